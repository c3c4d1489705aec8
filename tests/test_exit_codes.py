"""Issue 22, case 9: exit codes a pipeline can gate on. `worker --once` says whether a job it
ran failed (1) or parked (3); `log --follow` ends with the job's code, as `watch` does; a
parked `run --json` tells stderr how to approve (stdout keeps the one document)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import agentctl, invoke, start_agentctl, write

FAILS = "version: 1\nname: fails\nsteps:\n  - id: a\n    run: sleep {sleep} && exit 7\n"
PARKS = "version: 1\nname: parks\nsteps:\n  - id: gate\n    approval: Ship it?\n"
WORKS = "version: 1\nname: works\nsteps:\n  - id: a\n    run: echo done\n"


def _queue(tmp_path: Path, db: str, text: str, name: str) -> str:
    recipe = write(tmp_path / f"{name}.yaml", text)
    (tmp_path / "ws").mkdir(exist_ok=True)
    done = agentctl(
        ["run", str(recipe), "--workspace", str(tmp_path / "ws"), "--queue", "--json"],
        db=db,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["id"]


@pytest.mark.slow
@pytest.mark.e2e
def test_worker_once_exits_1_when_a_job_failed_3_when_one_parked_else_0(tmp_path, db_target):
    _queue(tmp_path, db_target, WORKS, "works")
    done = agentctl(["worker", "--once"], db=db_target, cwd=tmp_path)
    assert done.returncode == 0, done.stderr

    _queue(tmp_path, db_target, WORKS, "works")
    _queue(tmp_path, db_target, PARKS, "parks")
    done = agentctl(["worker", "--once"], db=db_target, cwd=tmp_path)
    assert done.returncode == 3, done.stderr
    assert "awaiting_approval" in done.stderr

    _queue(tmp_path, db_target, PARKS, "parks")
    _queue(tmp_path, db_target, FAILS.format(sleep=0), "fails")
    done = agentctl(["worker", "--once"], db=db_target, cwd=tmp_path)
    assert done.returncode == 1, done.stderr  # a failure outweighs a parked job
    assert "failed" in done.stderr


@pytest.mark.slow
@pytest.mark.e2e
def test_log_follow_ends_with_the_jobs_exit_code(tmp_path):
    db = str(tmp_path / "jobs.db")
    job = _queue(tmp_path, db, FAILS.format(sleep=1), "fails")
    worker = start_agentctl(["worker", "--once"], db, tmp_path)
    try:
        followed = agentctl(["log", job, "--follow"], db=db, cwd=tmp_path)
    finally:
        worker.communicate(timeout=60)
    assert followed.returncode == 1, (followed.stdout, followed.stderr)
    assert "failed" in followed.stdout
    # A job that already ended: the same code; a parked one: 3; without --follow: 0.
    assert agentctl(["log", job, "--follow"], db=db, cwd=tmp_path).returncode == 1
    assert agentctl(["log", job], db=db, cwd=tmp_path).returncode == 0
    parked = _queue(tmp_path, db, PARKS, "parks")
    assert agentctl(["worker", "--once"], db=db, cwd=tmp_path).returncode == 3
    assert agentctl(["log", parked, "--follow", "--json"], db=db, cwd=tmp_path).returncode == 3


def test_a_parked_run_json_prints_the_approve_command_on_stderr(tmp_path, workspace):
    recipe = write(tmp_path / "parks.yaml", PARKS)
    result = invoke("run", str(recipe), "--workspace", str(workspace), "--json")
    assert result.exit_code == 3, result.stderr
    job = json.loads(result.stdout)  # stdout is the one document
    request = job["pending_approvals"][0]["request"]
    assert f"agentctl approve {job['id']} {request}" in result.stderr
    assert f"agentctl resume {job['id']}" in result.stderr
