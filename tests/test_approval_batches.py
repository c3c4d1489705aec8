"""Approvals in batches (issue 22, item 8): every action of one model turn that needs a
person is parked together, `approve/deny JOB --all` decide them at once, and the prompt's
"all" approves the turn's pending requests; each approval stays bound to its own request and
action hash."""

from __future__ import annotations

import json

import pytest
from conftest import invoke
from scripted import ScriptedModel, tool_call
from test_engine import deps
from test_engine_policy import AGENT, STRICT, make_job, policy_file

from agentctl.engine.approvals import hash_action
from agentctl.engine.run import run_job
from agentctl.store.sqlite import SQLiteStore

TURN = [
    tool_call("write_file", path="a.txt", content="A"),
    tool_call("read_file", path="seen.txt"),  # allowed: runs without a person
    tool_call("write_file", path="b.txt", content="B"),
]


@pytest.fixture
def store(tmp_path) -> SQLiteStore:
    return SQLiteStore(tmp_path / "engine.db")


def parked_turn(store, workspace, tmp_path) -> str:
    (workspace / "seen.txt").write_text("seen")
    job = make_job(store, workspace, AGENT, [policy_file(tmp_path)])
    outcome = run_job(job, deps(store, ScriptedModel([TURN])))
    assert outcome.state == "awaiting_approval" and outcome.exit_code == 3
    return job


def of_type(store, job, kind: str) -> list:
    return [e for e in store.read_events(job) if e.type == kind]


def test_two_asked_actions_of_one_turn_park_once_together(store, workspace, tmp_path):
    job = parked_turn(store, workspace, tmp_path)
    pending = store.list_approvals(job, state="pending")
    assert [(a["tool"], a["args"]["path"]) for a in pending] == [
        ("write_file", "a.txt"),
        ("write_file", "b.txt"),
    ]
    [paused] = of_type(store, job, "job_paused")
    assert paused.data["requests"] == [a["request"] for a in pending]
    # Each request is bound to its own action.
    for approval in pending:
        assert approval["action_hash"] == hash_action("write_file", approval["args"])
    assert of_type(store, job, "action_started") == []  # nothing of the turn ran yet
    assert not (workspace / "a.txt").exists() and not (workspace / "b.txt").exists()


def test_approve_all_decides_every_pending_request_and_one_resume_runs_the_turn(
    store, workspace, tmp_path
):
    job = parked_turn(store, workspace, tmp_path)
    result = invoke("approve", job, "--all", "--comment", "both fine", "--db", str(store.path))
    assert result.exit_code == 0, result.stderr
    requests = [a["request"] for a in store.list_approvals(job)]
    for request in requests:
        assert request in result.stdout
    assert all(a["state"] == "approved" for a in store.list_approvals(job))

    model = ScriptedModel(["done"])
    outcome = run_job(job, deps(store, model))
    assert outcome.state == "succeeded"
    assert (workspace / "a.txt").read_text() == "A" and (workspace / "b.txt").read_text() == "B"
    assert len(of_type(store, job, "job_paused")) == 1  # one park for the turn, not two
    started = {
        e.data["args"].get("path"): e.data.get("approval")
        for e in of_type(store, job, "action_started")
    }
    assert started == {"a.txt": requests[0], "seen.txt": None, "b.txt": requests[1]}
    assert [e.data["request"] for e in of_type(store, job, "approval_used")] == requests
    assert all(a["state"] == "used" for a in store.list_approvals(job))


def test_approve_all_as_json_lists_every_decision(store, workspace, tmp_path):
    job = parked_turn(store, workspace, tmp_path)
    result = invoke("approve", job, "--all", "--json", "--db", str(store.path))
    assert result.exit_code == 0, result.stderr
    decided = json.loads(result.stdout)
    assert [d["args"]["path"] for d in decided] == ["a.txt", "b.txt"]
    assert {d["state"] for d in decided} == {"approved"}


def test_deny_all_tells_the_model_each_action_was_denied(store, workspace, tmp_path):
    job = parked_turn(store, workspace, tmp_path)
    result = invoke("deny", job, "--all", "--comment", "not now", "--db", str(store.path))
    assert result.exit_code == 0, result.stderr
    model = ScriptedModel(["understood"])
    assert run_job(job, deps(store, model)).state == "succeeded"
    told = [m["content"] for m in model.calls[0]["messages"] if m["role"] == "tool"]
    assert "not run" in told[0] and "not now" in told[0]
    assert told[1] == "seen"
    assert "not run" in told[2] and "not now" in told[2]
    assert not (workspace / "a.txt").exists() and not (workspace / "b.txt").exists()


def test_approving_one_of_the_batch_runs_it_and_parks_again_on_the_same_request(
    store, workspace, tmp_path
):
    job = parked_turn(store, workspace, tmp_path)
    first, second = (a["request"] for a in store.list_approvals(job))
    assert invoke("approve", job, first, "--db", str(store.path)).exit_code == 0
    outcome = run_job(job, deps(store, ScriptedModel([])))
    assert outcome.state == "awaiting_approval"
    assert [p["request"] for p in outcome.pending] == [second]  # no new request for it
    assert (workspace / "a.txt").read_text() == "A" and not (workspace / "b.txt").exists()
    assert len(store.list_approvals(job)) == 2


def test_all_and_a_request_together_or_nothing_pending_is_bad_input(store, workspace, tmp_path):
    job = parked_turn(store, workspace, tmp_path)
    first = store.list_approvals(job)[0]["request"]
    both = invoke("approve", job, first, "--all", "--db", str(store.path))
    assert both.exit_code == 2 and "--all" in both.stderr and "hint:" in both.stderr
    assert invoke("approve", job, "--all", "--db", str(store.path)).exit_code == 0
    again = invoke("approve", job, "--all", "--db", str(store.path))
    assert again.exit_code == 2 and "no pending approval" in again.stderr


def test_without_all_two_pending_names_the_all_option(store, workspace, tmp_path):
    job = parked_turn(store, workspace, tmp_path)
    result = invoke("approve", job, "--db", str(store.path))
    assert result.exit_code == 2
    assert f"agentctl approve {job} --all" in result.stderr


def test_the_prompt_is_shown_the_turns_batch_and_all_approves_each_request(
    store, workspace, tmp_path
):
    (workspace / "seen.txt").write_text("seen")
    job = make_job(store, workspace, AGENT, [policy_file(tmp_path)])
    asked: list[dict] = []

    def approver(record):
        asked.append(record)
        return "approve_all"

    model = ScriptedModel([TURN, "done"])
    assert run_job(job, deps(store, model, approver=approver)).state == "succeeded"
    assert len(asked) == 1  # one question for the turn
    assert [r["args"]["path"] for r in asked[0]["batch"]] == ["b.txt"]
    assert (workspace / "a.txt").read_text() == "A" and (workspace / "b.txt").read_text() == "B"
    approvals = store.list_approvals(job)
    assert [a["state"] for a in approvals] == ["used", "used"]
    assert all("via the prompt" in a["decided_by"] for a in approvals)


def test_a_parked_outcome_lists_every_request_and_the_all_hint(store, workspace, tmp_path):
    import io

    from agentctl.ui.outcome import show_outcome

    (workspace / "seen.txt").write_text("seen")
    job = make_job(store, workspace, AGENT, [policy_file(tmp_path)])
    outcome = run_job(job, deps(store, ScriptedModel([TURN])))
    out = io.StringIO()
    show_outcome(outcome, stream=out)
    text = out.getvalue()
    for request in outcome.pending:
        assert f"agentctl approve {job} {request['request']}" in text
    assert f"agentctl approve {job} --all" in text
    assert "a.txt" in text and "b.txt" in text


def test_a_batch_request_whose_action_is_allowed_when_its_turn_comes_is_voided(
    store, workspace, tmp_path
):
    # The first action makes `out` a link to `src/`, where writes are allowed: the second,
    # asked while `out/x.txt` was no such place, is allowed when it comes. Its request must
    # not stay pending (a worker claims a parked job only when nothing is), nor count in the
    # next park.
    (workspace / "src").mkdir()
    rule = (
        '  - id: src\n    tools: [write_file]\n    paths: ["src/**", "out"]\n    decision: allow\n'
    )
    policy = policy_file(tmp_path, STRICT.replace("rules:\n", "rules:\n" + rule))
    job = make_job(store, workspace, AGENT, [policy])
    turn = [
        tool_call("shell", command="ln -s src out"),
        tool_call("write_file", path="out/x.txt", content="x"),
    ]
    assert run_job(job, deps(store, ScriptedModel([turn]))).state == "awaiting_approval"
    first, second = (a["request"] for a in store.list_approvals(job, state="pending"))
    assert invoke("approve", job, first, "--db", str(store.path)).exit_code == 0
    later = [tool_call("write_file", path="c.txt", content="C")]
    outcome = run_job(job, deps(store, ScriptedModel([later])))
    assert outcome.state == "awaiting_approval"
    assert (workspace / "src" / "x.txt").read_text() == "x"
    assert [p["args"]["path"] for p in outcome.pending] == ["c.txt"]
    states = {a["request"]: a["state"] for a in store.list_approvals(job)}
    assert states[second] == "void"
    [voided] = of_type(store, job, "approval_voided")
    assert voided.data["request"] == second
    assert invoke("approve", job, "--db", str(store.path)).exit_code == 0  # one pending


def test_status_names_the_all_command_for_a_parked_turn(store, workspace, tmp_path):
    job = parked_turn(store, workspace, tmp_path)
    shown = invoke("status", job, "--db", str(store.path))
    assert shown.exit_code == 0, shown.stderr
    assert f"agentctl approve {job} --all" in shown.stdout


def test_all_at_the_prompt_after_one_was_decided_elsewhere_keeps_that_decision(
    store, workspace, tmp_path
):
    (workspace / "seen.txt").write_text("seen")
    job = make_job(store, workspace, AGENT, [policy_file(tmp_path)])

    def approver(record):
        [other] = record["batch"]  # denied from another terminal while the prompt was open
        assert invoke("deny", job, other["request"], "--db", str(store.path)).exit_code == 0
        return "approve_all"

    model = ScriptedModel([TURN, "done"])
    assert run_job(job, deps(store, model, approver=approver)).state == "succeeded"
    assert (workspace / "a.txt").read_text() == "A" and not (workspace / "b.txt").exists()
    assert [a["state"] for a in store.list_approvals(job)] == ["used", "denied"]
