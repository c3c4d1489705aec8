"""One job per workspace (issue 22: several jobs ran in one folder at once, one's edit failed
because another had made it, and diff/rollback blamed the wrong job). A runner holds its
workspace with its lease: another run, resume or worker claim there waits or exits 2 naming
the holder; the hold dies with the runner (its pid on this host, its lease elsewhere)."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
from conftest import agentctl, deps, make_job, start_agentctl, write
from test_store import NOW

from agentctl.engine.run import run_job
from agentctl.errors import JobBusy, WorkspaceBusy
from agentctl.store import NewEvent, Store, open_store


@pytest.fixture
def store(db_target) -> Store:
    opened = open_store(db_target)
    yield opened
    opened.close()


def create(store: Store, job_id: str, workspace: str, *, queue=None, shared=False) -> str:
    return store.create_job(
        job_id=job_id,
        recipe="r",
        recipe_path=None,
        recipe_text="version: 1",
        params={},
        options={},
        workspace=workspace,
        now=NOW,
        event=NewEvent("job_created", None, {}),
        queue=queue,
        shared_workspace=shared,
    )


def take(store: Store, job_id: str, *, pid: int, alive=lambda pid, start: True, hold=True):
    return store.acquire_lease(
        job_id, host="h", pid=pid, start="", now=NOW, ttl=30, is_alive=alive, hold_workspace=hold
    )


def test_a_runner_holds_its_workspace_until_it_releases_or_dies(store):
    create(store, "a", "/w")
    create(store, "b", "/w")
    create(store, "c", "/elsewhere")
    token = take(store, "a", pid=10)
    with pytest.raises(WorkspaceBusy, match=r"/w is in use by job a \(pid 10 on h\)") as busy:
        take(store, "b", pid=11)
    assert "--shared-workspace" in busy.value.hint and busy.value.exit_code == 2
    assert store.get_job("b")["lease_pid"] is None  # nothing taken
    take(store, "c", pid=12)  # another folder: free
    assert store.workspace_holder("/w", now=NOW, host="h", is_alive=lambda p, s: True) == {
        "id": "a",
        "pid": 10,
        "host": "h",
    }
    # `cancel` takes a lease for a moment without holding the workspace.
    store.release_lease("a", token)
    take(store, "b", pid=11)
    take(store, "a", pid=13, hold=False)
    # A runner that died (pid gone on this host) holds nothing.
    with pytest.raises(JobBusy):
        take(store, "b", pid=14)  # b's own lease is live
    assert take(store, "b", pid=14, alive=lambda pid, start: pid != 11) > 0


def test_a_shared_workspace_job_neither_waits_nor_blocks(store):
    create(store, "a", "/w")
    create(store, "s", "/w", shared=True)
    take(store, "a", pid=10)
    take(store, "s", pid=11)  # shared: runs beside a
    create(store, "b", "/w")
    with pytest.raises(WorkspaceBusy):
        take(store, "b", pid=12)


def test_a_worker_leaves_a_job_whose_workspace_is_held_queued(store):
    create(store, "run", "/w")
    create(store, "queued", "/w", queue="default")
    create(store, "other", "/x", queue="default")
    token = take(store, "run", pid=10)

    def claim():
        return store.claim_job(["default"], host="h", pid=1, start="", now=NOW + 1, ttl=30)

    got = claim()
    assert got is not None and got.job_id == "other"  # passed over the held one
    assert claim() is None
    store.release_lease("run", token)
    got = claim()
    assert got is not None and got.job_id == "queued"
    # The claim holds the workspace for the worker's runner.
    with pytest.raises(WorkspaceBusy, match="job queued"):
        take(store, "run", pid=15)


def test_resume_of_a_job_in_a_held_workspace_exits_2(tmp_path, workspace):
    from agentctl.store.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "e.db")
    gate = "version: 1\nname: g\nsteps:\n  - id: ok\n    approval: Go?\n"
    parked = make_job(store, workspace, gate)
    assert run_job(parked, deps(store)).state == "awaiting_approval"
    other = make_job(store, workspace, gate)
    store.acquire_lease(
        other, host="h", pid=1, start="", now=time.time(), ttl=60,
        is_alive=lambda p, s: True, hold_workspace=True,
    )  # fmt: skip
    with pytest.raises(WorkspaceBusy, match=f"in use by job {other}"):
        run_job(parked, deps(store))
    assert store.get_job(parked)["state"] == "awaiting_approval"  # left as it was


SLOW = """\
version: 1
name: slow
steps:
  - id: first
    run: echo started >> log.txt
  - id: wait
    run: sleep {seconds}
"""


def _wait_running(db: Path, workspace: Path) -> dict:
    for _ in range(600):
        if (workspace / "log.txt").exists():
            store = open_store(str(db))
            try:
                jobs = [j for j in store.list_jobs() if j["lease_pid"]]
            finally:
                store.close()
            if jobs:
                return jobs[0]
        time.sleep(0.05)
    pytest.fail("the first job never started")


@pytest.mark.slow
@pytest.mark.e2e
def test_a_second_run_in_a_busy_workspace_exits_2_until_the_runner_is_killed(tmp_path, workspace):
    db = tmp_path / "agentctl.db"
    recipe = write(tmp_path / "slow.yaml", SLOW.format(seconds=30))
    quick = write(
        tmp_path / "quick.yaml", "version: 1\nname: q\nsteps:\n  - id: a\n    run: 'true'\n"
    )
    first = start_agentctl(["run", str(recipe), "--workspace", str(workspace)], db, tmp_path)
    try:
        holder = _wait_running(db, workspace)
        second = agentctl(
            ["run", str(quick), "--workspace", str(workspace), "--json"], db, tmp_path
        )
        assert second.returncode == 2, second.stderr
        assert f"in use by job {holder['id']} (pid {first.pid} on" in second.stderr
        assert "hint:" in second.stderr and second.stdout == ""
        assert len(json.loads(agentctl(["jobs", "--json"], db, tmp_path).stdout)) == 1
        shared = agentctl(
            ["run", str(quick), "--workspace", str(workspace), "--shared-workspace", "--json"],
            db,
            tmp_path,
        )
        assert shared.returncode == 0, shared.stderr
        assert json.loads(shared.stdout)["shared_workspace"] is True
        first.send_signal(signal.SIGKILL)  # the hold dies with its runner
        first.wait()
        third = agentctl(["run", str(quick), "--workspace", str(workspace)], db, tmp_path)
        assert third.returncode == 0, third.stderr
    finally:
        first.kill()
        first.communicate()


@pytest.mark.slow
@pytest.mark.e2e
def test_a_worker_leaves_a_queued_job_until_the_workspace_is_free(tmp_path, workspace):
    db = tmp_path / "agentctl.db"
    recipe = write(tmp_path / "slow.yaml", SLOW.format(seconds=3))
    quick = write(
        tmp_path / "quick.yaml", "version: 1\nname: q\nsteps:\n  - id: a\n    run: 'true'\n"
    )
    queued = agentctl(
        ["run", str(quick), "--workspace", str(workspace), "--queue", "--json"], db, tmp_path
    )
    assert queued.returncode == 0, queued.stderr
    job = json.loads(queued.stdout)["id"]
    # The foreground run started after the job was queued: the pre-check passes (nobody runs).
    first = start_agentctl(["run", str(recipe), "--workspace", str(workspace)], db, tmp_path)
    try:
        _wait_running(db, workspace)
        idle = agentctl(["worker", "--once"], db, tmp_path)
        assert idle.returncode == 0, idle.stderr
        assert (
            json.loads(agentctl(["status", job, "--json"], db, tmp_path).stdout)["state"]
            == "queued"
        )
        assert first.wait(timeout=60) == 0
    finally:
        first.kill()
        first.communicate()
    done = agentctl(["worker", "--once"], db, tmp_path)
    assert done.returncode == 0, done.stderr
    status = json.loads(agentctl(["status", job, "--json"], db, tmp_path).stdout)
    assert status["state"] == "succeeded"


@pytest.mark.slow
@pytest.mark.e2e
def test_a_rerun_with_the_key_of_the_running_job_waits_for_it_instead(tmp_path, workspace):
    db = tmp_path / "agentctl.db"
    recipe = write(tmp_path / "slow.yaml", SLOW.format(seconds=8))
    args = ["run", str(recipe), "--workspace", str(workspace), "--key", "k", "--json"]
    first = start_agentctl(args, db, tmp_path)
    try:
        _wait_running(db, workspace)
        again = agentctl(args, db, tmp_path)
        assert again.returncode == 0, again.stderr
        assert "waiting for its runner" in again.stderr
        assert json.loads(again.stdout)["state"] == "succeeded"
        assert first.wait(timeout=60) == 0
    finally:
        first.kill()
        first.communicate()
    assert (workspace / "log.txt").read_text() == "started\n"
