"""What scripts read: `steps[].output` in job JSON, `run -q`, and `--json` on the commands that
change things (approve, deny, cancel, prune, watch, validate)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import invoke, write
from scripted import ScriptedModel
from test_engine import deps


@pytest.fixture
def recipe(tmp_path) -> Path:
    return write(
        tmp_path / "r.yaml",
        """\
version: 1
name: outputs
steps:
  - id: secret
    run: echo "token secret-0123456789"
  - id: long
    run: seq 1 3000
  - id: last
    run: printf 'line one\\nline two\\n'
""",
    )


@pytest.fixture
def masking_policy(tmp_path) -> Path:
    return write(
        tmp_path / "p.yaml",
        'version: 1\nname: p\ndefault: allow\nredact: ["secret-[0-9]+"]\n',
    )


def test_run_and_status_json_carry_capped_masked_step_outputs(recipe, masking_policy, workspace):
    from agentctl.engine.run.state import STEP_OUTPUT_CAP

    ran = invoke(
        "run", str(recipe), "--workspace", str(workspace), "--policy", str(masking_policy), "--json"
    )
    assert ran.exit_code == 0, ran.stderr
    status = invoke("status", "last", "--json")
    listed = json.loads(invoke("jobs", "--json").stdout)[0]
    for job in (json.loads(ran.stdout), json.loads(status.stdout), listed):
        steps = {step["id"]: step for step in job["steps"]}
        assert steps["secret"]["output"].strip() == "token [REDACTED]"
        assert len(steps["long"]["output"]) == STEP_OUTPUT_CAP
        assert steps["long"]["output"].startswith("1\n2\n") and steps["long"]["output_truncated"]
        assert steps["last"]["output"] == "line one\nline two\n"
        assert "output_truncated" not in steps["last"]


def test_the_agents_answer_is_its_steps_output(tmp_path, workspace):
    from agentctl.engine.jobs import create_job, describe_job
    from agentctl.engine.run import run_job
    from agentctl.recipe.load import load_recipe_text
    from agentctl.store.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "e.db")
    text = "version: 1\nname: a\nsteps:\n  - id: think\n    agent: {instructions: Think.}\n"
    loaded = load_recipe_text(text, "r.yaml")
    job = create_job(store, loaded, params={}, workspace=workspace, options={})
    assert run_job(job, deps(store, ScriptedModel(["The answer is 42."]))).state == "succeeded"
    described = describe_job(store, store.get_job(job))
    assert described["steps"][0]["output"] == "The answer is 42."


def test_quiet_prints_only_the_final_output(recipe, workspace):
    result = invoke("run", str(recipe), "--workspace", str(workspace), "-q")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "line one\nline two\n"
    assert result.stderr == ""


def test_quiet_says_on_stderr_why_there_is_no_output(tmp_path, workspace):
    failing = write(
        tmp_path / "f.yaml", "version: 1\nname: f\nsteps:\n  - id: x\n    run: exit 3\n"
    )
    result = invoke("run", str(failing), "--workspace", str(workspace), "--quiet")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "failed" in result.stderr


@pytest.fixture
def gated(tmp_path, workspace) -> str:
    path = write(
        tmp_path / "g.yaml",
        "version: 1\nname: g\nsteps:\n  - id: ok\n    approval: Go?\n  - id: b\n    run: echo b\n",
    )
    assert invoke("run", str(path), "--workspace", str(workspace)).exit_code == 3
    return json.loads(invoke("status", "last", "--json").stdout)["id"]


def test_approve_json(gated):
    result = invoke("approve", "last", "--json")
    assert result.exit_code == 0, result.stderr
    decided = json.loads(result.stdout)
    assert decided["state"] == "approved" and decided["job"] == gated
    assert decided["step"] == "ok" and decided["comment"] is None


def test_cancel_json(gated):
    result = invoke("cancel", "last", "--json")
    assert result.exit_code == 0, result.stderr
    job = json.loads(result.stdout)
    assert job["id"] == gated and job["state"] == "cancelled"


def test_watch_json_prints_the_job_and_keeps_stdout_clean(gated):
    result = invoke("watch", "last", "--json")
    assert result.exit_code == 3
    job = json.loads(result.stdout)
    assert job["state"] == "awaiting_approval"
    assert "waiting for approval" in result.stderr


def test_prune_json_and_dry_run(gated):
    assert invoke("cancel", "last").exit_code == 0
    dry = invoke("prune", "--older-than", "0s", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.stderr
    assert json.loads(dry.stdout) == {"dry_run": True, "jobs": [gated], "deleted": [], "blobs": 0}
    plain = invoke("prune", "--older-than", "0s", "--dry-run")
    assert gated in plain.stdout and "would delete 1" in plain.stdout
    assert len(json.loads(invoke("jobs", "--json").stdout)) == 1  # nothing deleted
    done = json.loads(invoke("prune", "--older-than", "0s", "--yes", "--json").stdout)
    assert done["deleted"] == [gated] and done["dry_run"] is False
    assert json.loads(invoke("jobs", "--json").stdout) == []


def test_rollback_dry_run_changes_nothing(tmp_path, workspace):
    path = write(
        tmp_path / "w.yaml", "version: 1\nname: w\nsteps:\n  - id: w\n    run: echo hi > a.txt\n"
    )
    assert invoke("run", str(path), "--workspace", str(workspace)).exit_code == 0
    plain = invoke("rollback", "last", "--dry-run")
    assert plain.exit_code == 0, plain.stderr
    assert "would roll back" in plain.stdout and "a.txt" in plain.stdout
    as_json = json.loads(invoke("rollback", "last", "--dry-run", "--json").stdout)
    assert as_json["dry_run"] is True and as_json["plan"][0]["path"] == "a.txt"
    assert (workspace / "a.txt").read_text() == "hi\n"


def test_jobs_limit_recipe_and_since(tmp_path, workspace):
    one = write(
        tmp_path / "one.yaml", "version: 1\nname: one\nsteps:\n  - id: a\n    run: 'true'\n"
    )
    two = write(
        tmp_path / "two.yaml", "version: 1\nname: two\nsteps:\n  - id: a\n    run: 'true'\n"
    )
    for path in (one, two, one):
        assert invoke("run", str(path), "--workspace", str(workspace)).exit_code == 0

    def ids(*args):
        result = invoke("jobs", "--json", *args)
        assert result.exit_code == 0, result.stderr
        return [(job["recipe"]) for job in json.loads(result.stdout)]

    assert ids() == ["one", "two", "one"]
    assert ids("--limit", "2") == ["one", "two"]
    assert ids("--recipe", "one") == ["one", "one"]
    assert ids("--recipe", "one", "-n", "1") == ["one"]
    assert ids("--since", "1h") == ["one", "two", "one"]
    assert ids("--since", "2999-01-01") == []
    assert ids("--since", "2000-01-01T00:00:00Z") == ["one", "two", "one"]
    assert "no jobs match" in invoke("jobs", "--recipe", "nope").stdout
    bad = invoke("jobs", "--since", "yesterday-ish")
    assert bad.exit_code == 2 and "--since" in bad.stderr
