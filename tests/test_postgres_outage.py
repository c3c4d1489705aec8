"""A PostgreSQL server that goes away mid-job: the runner retries and nothing is written twice,
or (gone for too long) it stops with a clear error that hides the password, and the job
resumes once the server is back.

These stop and start the test server itself (`.ci/postgres.sh down|up`), so they need the one
that script started."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import IN_CI, agentctl, agentctl_env, require_postgres

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

SCRIPT = Path(__file__).parents[1] / ".ci" / "postgres.sh"
STATE = Path(os.environ.get("AGENTCTL_PG_STATE", "/tmp/agentctl-ci-postgres"))

RECIPE = """version: 1
name: outage
steps:
  - id: a
    run: echo one >> effects.log
  - id: b
    run: sleep {sleep}
  - id: c
    run: echo three >> effects.log
"""


def server(action: str) -> None:
    subprocess.run([str(SCRIPT), action], check=True, timeout=60)


@pytest.fixture
def own_server(postgres_url) -> str:
    if not (STATE / "options").is_file():
        if IN_CI:
            pytest.fail(f"the test server was not started by {SCRIPT} (no {STATE}/options)")
        pytest.skip(f"needs the server {SCRIPT} started (it stops and starts it)")
    yield postgres_url
    if not _server_up():
        server("up")


def _server_up() -> bool:
    import psycopg

    try:
        psycopg.connect(require_postgres(), connect_timeout=2).close()
        return True
    except psycopg.OperationalError:
        return False


def start_run(tmp_path: Path, db: str, sleep: int, **env: str) -> subprocess.Popen:
    (tmp_path / "ws").mkdir()
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE.format(sleep=sleep))
    return subprocess.Popen(
        [sys.executable, "-m", "agentctl", "run", str(recipe), "--workspace",
         str(tmp_path / "ws"), "--non-interactive", "--json"],
        env=agentctl_env(db, **env), cwd=tmp_path, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def wait_for_step_b(tmp_path: Path, db: str) -> None:
    deadline = time.monotonic() + 90
    while True:
        done = agentctl(["log", "last", "--json"], db=db, cwd=tmp_path)
        lines = [json.loads(line) for line in done.stdout.splitlines()]
        if any(e["type"] == "action_started" and e["step"] == "b" for e in lines):
            return
        assert time.monotonic() < deadline, "step b never started"
        time.sleep(0.2)


def check_log_once(db: str, cwd: Path) -> list[dict]:
    done = agentctl(["log", "last", "--json"], db=db, cwd=cwd)
    log = [json.loads(line) for line in done.stdout.splitlines()]
    assert [e["seq"] for e in log] == list(range(1, len(log) + 1))
    finished = [e["key"] for e in log if e["type"] == "action_finished"]
    assert len(finished) == len(set(finished))  # no result recorded twice
    return log


def test_a_server_restart_mid_job_is_ridden_out_and_nothing_is_written_twice(tmp_path, own_server):
    run = start_run(tmp_path, own_server, sleep=8)
    try:
        wait_for_step_b(tmp_path, own_server)
        server("down")  # every connection is cut, the heartbeat's and the runner's
        assert run.poll() is None  # the job cannot have ended: it is still in step b
        time.sleep(1)
        server("up")
        out, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, err
    assert json.loads(out)["state"] == "succeeded"
    assert (tmp_path / "ws" / "effects.log").read_text().split() == ["one", "three"]
    log = check_log_once(own_server, tmp_path)
    assert [e["type"] for e in log].count("runner_started") == 1


def test_a_server_gone_too_long_stops_the_job_interrupted_with_a_clear_error(tmp_path, own_server):
    password = urlsplit(own_server).password
    run = start_run(tmp_path, own_server, sleep=8, AGENTCTL_DB_RETRY="2")
    try:
        wait_for_step_b(tmp_path, own_server)
        server("down")
        assert run.poll() is None  # still in step b: its result will find no server
        out, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
        server("up")
    assert run.returncode == 130, err
    assert "error: lost the connection to the database postgresql://agentctl:***@" in err
    assert "hint:" in err and "resume" in err and "Traceback" not in err
    assert password and password not in out + err
    status = agentctl(["status", "last", "--json"], db=own_server, cwd=tmp_path)
    assert json.loads(status.stdout)["state"] == "interrupted"
    # Resumed once the server is back: step b had started with no result recorded, so its
    # re-run is approved; step a is not run again.
    for _ in range(3):
        resumed = agentctl(["resume", "last", "--non-interactive", "--json"], db=own_server,
                           cwd=tmp_path)  # fmt: skip
        if resumed.returncode != 3:
            break
        [request] = json.loads(resumed.stdout)["pending_approvals"]
        agentctl(["approve", "last", request["request"]], db=own_server, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert (tmp_path / "ws" / "effects.log").read_text().split() == ["one", "three"]
    check_log_once(own_server, tmp_path)


def _lease_expires(url: str) -> float:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT lease_expires FROM jobs ORDER BY created_at DESC LIMIT 1"
        ).fetchone()
    assert row is not None and row[0] is not None
    return float(row[0])


def _restart_while_it_runs(process: subprocess.Popen, tmp_path: Path, url: str) -> None:
    """Restart the server while the job's second step sleeps; the process must still run and
    the job's lease must have been renewed after the server came back."""
    wait_for_step_b(tmp_path, url)
    server("down")
    time.sleep(2)
    server("up")
    renewed_after = time.time()
    time.sleep(8)  # renewals come every lease/3 = 5 s
    assert process.poll() is None
    assert _lease_expires(url) > renewed_after + 10  # renewed after the restart


def test_a_restart_under_a_job_longer_than_its_lease_keeps_the_heartbeat(tmp_path, own_server):
    """The heartbeat used to reopen its connection outside its error handling and die: the
    job then ran on without renewing its lease, and one longer than the lease (15 s) would
    have been taken over while its tool still ran."""
    run = start_run(tmp_path, own_server, sleep=24)
    try:
        _restart_while_it_runs(run, tmp_path, own_server)
        out, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, err
    assert json.loads(out)["state"] == "succeeded"
    log = check_log_once(own_server, tmp_path)
    assert [e["type"] for e in log].count("runner_started") == 1  # never taken over


def test_a_restart_under_a_warm_workers_job_longer_than_its_lease(tmp_path, own_server):
    """The same under a warm worker, whose beat keeps the lease of all its jobs (its jobs have
    no heartbeat of their own): the beat reconnects and the job is never taken over."""
    (tmp_path / "ws").mkdir()
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE.format(sleep=24))
    queued = agentctl(["run", str(recipe), "--workspace", str(tmp_path / "ws"), "--queue"],
                      db=own_server, cwd=tmp_path)  # fmt: skip
    assert queued.returncode == 0, queued.stderr
    worker = subprocess.Popen(
        [sys.executable, "-m", "agentctl", "worker", "--once"],
        env=agentctl_env(own_server), cwd=tmp_path, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _restart_while_it_runs(worker, tmp_path, own_server)
        _, err = worker.communicate(timeout=120)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, err
    status = agentctl(["status", "last", "--json"], db=own_server, cwd=tmp_path)
    assert json.loads(status.stdout)["state"] == "succeeded"
    log = check_log_once(own_server, tmp_path)
    assert [e["type"] for e in log].count("runner_started") == 1  # never taken over
