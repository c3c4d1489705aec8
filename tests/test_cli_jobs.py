"""`jobs`, `status`, `log --follow`, `run --detach`, `prune`, and Ctrl-C, through real processes."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import agentctl, invoke, start_agentctl, write_recipe


def wait_for(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


@pytest.mark.slow
@pytest.mark.e2e
def test_detach_returns_at_once_and_log_follow_streams_to_the_end(tmp_path, workspace):
    db = tmp_path / "a.db"
    recipe = write_recipe(
        tmp_path,
        "  - id: a\n    run: sleep 1.5; echo slow > done.txt\n  - id: b\n    run: echo fast\n",
    )
    started = time.monotonic()
    detached = agentctl(
        ["run", str(recipe), "--workspace", str(workspace), "--detach", "--json"], db, tmp_path
    )
    assert detached.returncode == 0, detached.stderr
    job = json.loads(detached.stdout)
    assert job["state"] == "running" and job["runner"]["pid"] > 0
    assert time.monotonic() - started < 10
    followed = agentctl(["log", job["id"], "--follow"], db, tmp_path)
    assert followed.returncode == 0
    assert followed.stdout.strip().splitlines()[-1].endswith("job succeeded")
    assert "[b] step succeeded" in followed.stdout
    assert (workspace / "done.txt").read_text() == "slow\n"


def test_jobs_and_status_tables_for_people(tmp_path, workspace):
    recipe = write_recipe(tmp_path, "  - id: gate\n    approval: Go on?\n", name="tables")
    result = invoke("run", str(recipe), "--workspace", str(workspace), "--non-interactive")
    assert result.exit_code == 3
    listed = invoke("jobs")
    assert "awaiting_approval" in listed.stdout and "tables" in listed.stdout
    shown = invoke("status", "last")
    assert "pending approvals" in shown.stdout and "Go on?" in shown.stdout
    assert "agentctl approve" in shown.stdout
    only = invoke("jobs", "--state", "succeeded", "--json")
    assert json.loads(only.stdout) == []


def test_prune_deletes_only_old_finished_jobs(tmp_path, workspace):
    done = write_recipe(tmp_path, "  - id: a\n    run: 'true'\n", name="done")
    parked = write_recipe(tmp_path, "  - id: g\n    approval: wait\n", name="parked")
    assert invoke("run", str(done), "--workspace", str(workspace)).exit_code == 0
    assert (
        invoke("run", str(parked), "--workspace", str(workspace), "--non-interactive").exit_code
        == 3
    )
    kept = invoke("prune", "--older-than", "1h", "--yes")
    assert kept.exit_code == 0 and "no finished jobs" in kept.stdout
    refused = invoke("prune", "--older-than", "0s")
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    pruned = invoke("prune", "--older-than", "0s", "--yes")
    assert pruned.exit_code == 0 and "deleted 1 job" in pruned.stdout
    left = json.loads(invoke("jobs", "--json").stdout)
    assert [job["recipe"] for job in left] == ["parked"]
    bad = invoke("prune", "--older-than", "soon", "--yes")
    assert bad.exit_code == 2 and bad.stderr.startswith("error:")


@pytest.mark.slow
@pytest.mark.e2e
def test_ctrl_c_leaves_an_interrupted_job_that_resumes(tmp_path, workspace):
    db = tmp_path / "a.db"
    wait_loop = "until [ -f go ]; do sleep 0.1; done; echo waited >> log.txt"
    recipe = write_recipe(
        tmp_path,
        "  - id: a\n    run: echo start >> log.txt\n"
        f"  - id: b\n    run: {wait_loop}\n"
        "  - id: c\n    run: echo end >> log.txt\n",
    )
    proc = start_agentctl(
        ["run", str(recipe), "--workspace", str(workspace), "--non-interactive"], db, tmp_path
    )
    wait_for(lambda: "until [ -f go ]" in _log_text(db, tmp_path))
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)  # a second Ctrl-C must not corrupt anything
    _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert time.monotonic() - started < 10
    status = json.loads(agentctl(["status", "last", "--json"], db, tmp_path).stdout)
    assert status["state"] == "interrupted"
    assert [s["state"] for s in status["steps"]] == ["succeeded", "interrupted", "pending"]
    assert not _still_running("until \\[ -f go")  # the running tool was killed with its group
    # The person stopped the command, so it is not uncertain: no policy asks about it, and a
    # resume runs it again without an approval (tests/test_stops.py has the rest).
    stopped = [e for e in _events(db, tmp_path) if e["type"] == "action_finished"][-1]
    assert stopped["error"] == "stopped" and "Ctrl-C" in stopped["stopped_by"]
    (workspace / "go").touch()
    resumed = agentctl(["resume", "last", "--non-interactive", "--json"], db, tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert (workspace / "log.txt").read_text() == "start\nwaited\nend\n"


def _events(db: Path, cwd: Path) -> list[dict]:
    done = agentctl(["log", "last", "--json"], db, cwd)
    return [json.loads(line) for line in done.stdout.splitlines()]


def _log_text(db: Path, cwd: Path) -> str:
    return agentctl(["log", "last"], db, cwd).stdout


def _still_running(pattern: str) -> bool:
    return subprocess.run(["pgrep", "-f", pattern], capture_output=True).returncode == 0


@pytest.mark.slow
@pytest.mark.e2e
def test_cancel_from_another_process_stops_a_running_tool(tmp_path, workspace):
    db = tmp_path / "a.db"
    recipe = write_recipe(
        tmp_path,
        "  - id: wait\n    run: until [ -f never ]; do sleep 0.1;"
        " done\n  - id: after\n    run: touch after\n",
    )
    detached = agentctl(
        ["run", str(recipe), "--workspace", str(workspace), "--detach"], db, tmp_path
    )
    assert detached.returncode == 0, detached.stderr
    wait_for(lambda: "until [ -f never ]" in _log_text(db, tmp_path))
    started = time.monotonic()
    cancelled = agentctl(["cancel", "last"], db, tmp_path)
    assert cancelled.returncode == 0 and "cancelled" in cancelled.stdout, cancelled.stderr
    assert time.monotonic() - started < 10
    status = json.loads(agentctl(["status", "last", "--json"], db, tmp_path).stdout)
    assert status["state"] == "cancelled"
    assert not (workspace / "after").exists()
    assert not _still_running("until \\[ -f never")
    assert [s["state"] for s in status["steps"]] == ["cancelled", "pending"]
    events = [
        json.loads(line)
        for line in agentctl(["log", "last", "--json"], db, tmp_path).stdout.splitlines()
    ]
    types = [e["type"] for e in events]
    assert "cancel_requested" in types and types[-1] == "job_cancelled"
    finished = [e for e in events if e["type"] == "action_finished"]
    assert finished[-1]["error"] == "cancelled" and finished[-1]["ok"] is False


def test_a_mistyped_state_gets_a_did_you_mean():
    result = invoke("jobs", "--state", "runing")
    assert result.exit_code == 2
    assert "error: unknown state 'runing'" in result.stderr
    assert "hint: did you mean `running`?" in result.stderr
