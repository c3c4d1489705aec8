"""A person's answer to an approval: a deny is theirs (never a policy rule's), and the reason
they give, by `deny --comment` or at the prompt's `d` key, reaches the model."""

from __future__ import annotations

import json

import pytest
from conftest import invoke
from scripted import ScriptedModel, tool_call
from test_engine import deps
from test_engine_policy import AGENT, make_job, policy_file

from agentctl.engine.run import run_job
from agentctl.store.sqlite import SQLiteStore
from agentctl.ui.event_lines import describe_event


@pytest.fixture
def store(tmp_path) -> SQLiteStore:
    return SQLiteStore(tmp_path / "engine.db")


def parked_write(store, workspace, tmp_path) -> str:
    job = make_job(store, workspace, AGENT, [policy_file(tmp_path)])
    model = ScriptedModel([[tool_call("write_file", path="out.txt", content="x")]])
    assert run_job(job, deps(store, model)).state == "awaiting_approval"
    return job


def refusal(store, job):
    return [e for e in store.read_events(job) if e.type == "action_finished"][-1]


def test_deny_comment_reaches_the_model_as_the_persons_words(store, workspace, tmp_path):
    job = parked_write(store, workspace, tmp_path)
    result = invoke(
        "deny", job, "--comment", "write to notes/ instead", "--json", "--db", str(store.path)
    )
    assert result.exit_code == 0, result.stderr
    decided = json.loads(result.stdout)
    assert decided["state"] == "denied" and decided["comment"] == "write to notes/ instead"
    assert decided["decided_at"].endswith("Z") and decided["job"] == job

    model = ScriptedModel(["ok, I will"])
    assert run_job(job, deps(store, model)).state == "succeeded"
    told = model.calls[0]["messages"][-1]["content"]
    name = decided["decided_by"].split(" (")[0]
    assert f"denied by {name}: write to notes/ instead" in told
    assert "strict:" not in told and "rules" not in told  # a person, not a policy rule

    finished = refusal(store, job)
    assert finished.data["denied_by"] == decided["decided_by"]
    assert "rules" not in finished.data
    line = describe_event(finished.type, finished.step, finished.data)
    assert line is not None and line.endswith(f"denied by {name}: write to notes/ instead")
    assert not (workspace / "out.txt").exists()


def test_a_reason_typed_at_the_prompt_reaches_the_model(store, workspace, tmp_path):
    job = make_job(store, workspace, AGENT, [policy_file(tmp_path)])
    model = ScriptedModel([[tool_call("write_file", path="out.txt", content="x")], "fine"])
    asked = []

    def approver(request):
        asked.append(request["request"])
        return ("deny", "not on a Friday")

    assert run_job(job, deps(store, model, approver=approver)).state == "succeeded"
    assert asked
    told = model.calls[1]["messages"][-1]["content"]
    assert ": not on a Friday" in told and "denied by " in told
    assert "via the prompt" in refusal(store, job).data["denied_by"]


def test_a_deny_without_a_comment_still_names_the_person(store, workspace, tmp_path):
    job = parked_write(store, workspace, tmp_path)
    assert invoke("deny", job, "--db", str(store.path)).exit_code == 0
    model = ScriptedModel(["ok"])
    run_job(job, deps(store, model))
    told = model.calls[0]["messages"][-1]["content"]
    assert "was not run: denied by " in told and "strict:" not in told
