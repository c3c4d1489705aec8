"""`agentctl run`, `resume`, `approve`, `deny`, `cancel`: exit codes, JSON, error lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import assert_bad_input, invoke, write


@pytest.fixture
def gated(tmp_path) -> Path:
    return write(
        tmp_path / "gated.yaml",
        """\
version: 1
name: gated
params:
  name: {type: string, required: true}
steps:
  - id: hello
    run: echo "hello {{ params.name }}" > hello.txt
  - id: ok
    approval: Keep {{ params.name }}?
  - id: bye
    run: echo bye >> hello.txt
""",
    )


def jobs_json() -> list:
    result = invoke("jobs", "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_run_parks_on_approval_then_approve_and_resume_finish(gated, workspace):
    result = invoke(
        "run",
        str(gated),
        "-p",
        "name=ada",
        "--workspace",
        str(workspace),
        "--non-interactive",
        "--json",
    )
    assert result.exit_code == 3, result.stderr
    job = json.loads(result.stdout)
    assert job["state"] == "awaiting_approval"
    assert [s["state"] for s in job["steps"]] == ["succeeded", "awaiting_approval", "pending"]
    request = job["pending_approvals"][0]
    assert request["reason"] == "Keep ada?" and request["step"] == "ok"
    assert set(request) >= {"request", "step", "tool", "args", "rules", "reason"}
    # The approve command is printed for whoever reads the log.
    assert f"agentctl approve {job['id']}" not in result.stdout  # stdout is the JSON only
    approved = invoke("approve", job["id"][:6], "--comment", "looks fine")
    assert approved.exit_code == 0, approved.stderr
    again = invoke("approve", job["id"])
    assert_bad_input(again, "no pending approval")
    resumed = invoke("resume", "last", "--json")
    assert resumed.exit_code == 0, resumed.stderr
    done = json.loads(resumed.stdout)
    assert done["state"] == "succeeded" and done["pending_approvals"] == []
    assert (workspace / "hello.txt").read_text() == "hello ada\nbye\n"
    log = invoke("log", job["id"], "--json")
    events = [json.loads(line) for line in log.stdout.splitlines()]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert all({"seq", "ts", "type", "step"} <= set(e) for e in events)
    decided = next(e for e in events if e["type"] == "approval_decided")
    assert decided["comment"] == "looks fine" and "uid" in decided["by"]


def test_human_run_prints_the_approve_command(gated, workspace):
    result = invoke(
        "run", str(gated), "-p", "name=x", "--workspace", str(workspace), "--non-interactive"
    )
    assert result.exit_code == 3
    job_id = jobs_json()[0]["id"]
    assert f"agentctl approve {job_id} r" in result.stdout
    denied = invoke("deny", job_id)
    assert denied.exit_code == 0
    resumed = invoke("resume", job_id)
    assert resumed.exit_code == 1 and "denied" in resumed.stdout


def test_failed_step_exits_1_with_the_error_in_json(tmp_path, workspace):
    recipe = write(tmp_path / "r.yaml", "version: 1\nname: f\nsteps:\n  - id: a\n    run: exit 7\n")
    result = invoke("run", str(recipe), "--workspace", str(workspace), "--json")
    assert result.exit_code == 1
    job = json.loads(result.stdout)
    assert job["state"] == "failed" and job["error"]["type"] == "step_failed"
    assert "exit 7" in job["error"]["message"]
    resumed = invoke("resume", job["id"])
    assert_bad_input(resumed, "already failed")


@pytest.mark.parametrize(
    "text,where",
    [
        ("version: 1\nname: a\nname: b\nsteps: []\n", "r.yaml:3:1"),
        ("version: 1\nname: a\nsteps:\n  - id: x\n    rum: ls\n", "r.yaml:5:5"),
        ("version: 1\nname: a\nsteps:\n  - id: x\n    run: echo {{ params.nope }}\n", "r.yaml:5"),
    ],
)
def test_invalid_recipe_exits_2_naming_the_place_and_leaves_no_job(
    tmp_path, workspace, text, where
):
    recipe = write(tmp_path / "r.yaml", text)
    assert_bad_input(invoke("run", str(recipe), "--workspace", str(workspace)), where)
    assert_bad_input(invoke("validate", str(recipe)), where, exit_code=1)
    assert jobs_json() == []


@pytest.mark.parametrize(
    "args,needle",
    [
        (["-p", "name"], "name"),
        (["-p", "nope=1"], "nope"),
        ([], "name"),
        (["-p", "name=a", "--workspace", "/does/not/exist"], "/does/not/exist"),
        (["-p", "name=a", "--bogus-flag"], "--bogus-flag"),
        (["-p", "name=a", "--record", "a.jsonl", "--replay", "b.jsonl"], "replay"),
    ],
)
def test_bad_params_and_flags_exit_2_and_leave_no_job(gated, args, needle):
    assert_bad_input(invoke("run", str(gated), *args), needle)
    assert jobs_json() == []


def test_agent_recipe_without_a_model_exits_2_with_the_three_ways(tmp_path, workspace):
    recipe = write(tmp_path / "a.yaml", "version: 1\nname: a\ninstructions: do it\n")
    result = invoke("run", str(recipe), "--workspace", str(workspace))
    assert_bad_input(result, "no model", "--replay", "Ollama")
    assert jobs_json() == []


@pytest.mark.parametrize(
    "command",
    [
        ["status", "nope"],
        ["log", "nope"],
        ["resume", "nope"],
        ["cancel", "nope"],
        ["approve", "nope"],
        ["status", "last"],
    ],
)
def test_unknown_job_exits_2(command):
    assert_bad_input(invoke(*command))


def test_ambiguous_prefix_exits_2(tmp_path, workspace):
    from agentctl.engine.jobs import create_job
    from agentctl.paths import default_db_path
    from agentctl.recipe.load import load_recipe_text
    from agentctl.store.sqlite import SQLiteStore

    store = SQLiteStore(default_db_path())
    loaded = load_recipe_text("version: 1\nname: n\nsteps:\n  - id: a\n    run: 'true'\n", "r")
    for job_id in ("abc111", "abc222"):
        create_job(store, loaded, params={}, workspace=workspace, options={}, job_id=job_id)
    assert_bad_input(invoke("status", "abc"), "abc111", "abc222")
    assert invoke("status", "abc1", "--json").exit_code == 0


def test_cancel_a_parked_job(gated, workspace):
    invoke("run", str(gated), "-p", "name=x", "--workspace", str(workspace), "--non-interactive")
    result = invoke("cancel", "last")
    assert result.exit_code == 0 and "cancelled" in result.stdout
    [job] = jobs_json()
    assert job["state"] == "cancelled"
    # The step it was parked in ended with it (it said awaiting_approval before).
    assert [s["state"] for s in job["steps"]] == ["succeeded", "cancelled", "pending"]
    status = json.loads(invoke("status", "last", "--json").stdout)
    assert [s["state"] for s in status["steps"]] == ["succeeded", "cancelled", "pending"]
    # Cancelling again is not an error: the job is stopped either way.
    again = invoke("cancel", "last")
    assert again.exit_code == 0 and "already cancelled" in again.stdout, again.output


def test_jobs_keeps_every_state_asked_for_and_names_it_when_none_match(gated, workspace):
    invoke("run", str(gated), "-p", "name=x", "--workspace", str(workspace), "--non-interactive")
    invoke("run", str(gated), "-p", "name=y", "--workspace", str(workspace), "--non-interactive")
    assert invoke("cancel", "last").exit_code == 0
    both = invoke("jobs", "--state", "awaiting_approval", "--state", "cancelled", "--json")
    assert sorted(j["state"] for j in json.loads(both.stdout)) == [
        "awaiting_approval",
        "cancelled",
    ]
    commas = invoke("jobs", "--state", "awaiting_approval,cancelled", "--json")
    assert len(json.loads(commas.stdout)) == 2
    none = invoke("jobs", "--state", "running")
    assert none.exit_code == 0 and "no running jobs" in none.stdout
    assert "no jobs yet" not in none.stdout


def test_db_option_before_or_after_the_command(tmp_path, gated, workspace):
    db = tmp_path / "other.db"
    invoke(
        "--db",
        str(db),
        "run",
        str(gated),
        "-p",
        "name=x",
        "--workspace",
        str(workspace),
        "--non-interactive",
    )
    assert jobs_json() == []
    listed = invoke("jobs", "--db", str(db), "--json")
    assert len(json.loads(listed.stdout)) == 1


def test_jobs_rejects_an_unknown_state():
    assert_bad_input(invoke("jobs", "--state", "sleeping"), "sleeping")


def test_a_cancelled_job_has_nothing_left_to_approve(gated, workspace):
    invoke("run", str(gated), "-p", "name=x", "--workspace", str(workspace), "--non-interactive")
    assert invoke("cancel", "last").exit_code == 0
    assert jobs_json()[0]["pending_approvals"] == []
    assert_bad_input(invoke("approve", "last"), "already cancelled")


def test_resume_refuses_a_workspace_that_is_gone(gated, workspace):
    import shutil

    invoke("run", str(gated), "-p", "name=x", "--workspace", str(workspace), "--non-interactive")
    assert invoke("approve", "last").exit_code == 0
    shutil.rmtree(workspace)
    resumed = invoke("resume", "last", "--non-interactive")
    assert_bad_input(resumed, str(workspace), "does not exist")
    assert not workspace.exists()  # not made again, empty
    assert jobs_json()[0]["state"] == "awaiting_approval"  # still resumable once it is back
