"""Fleet controls (issue 25): priorities, a queued job's earliest start, and a dead letter
for a job whose runner keeps dying; on both backends."""

from __future__ import annotations

import json

import pytest
from conftest import agentctl, write

from agentctl.engine.jobs import create_job
from agentctl.engine.worker import Worker, WorkerOptions
from agentctl.recipe.load import load_recipe_text
from agentctl.store import JobUpdate, NewEvent, Schedule, open_store

RECIPE = "version: 1\nname: q\nsteps:\n  - {id: a, run: 'true'}\n"
NOW = 1_900_000_000.0


def _queue(store, workspace, schedule=None, now=NOW) -> str:
    loaded = load_recipe_text(RECIPE, "<t>")
    # several jobs in one folder: each would wait for the one before (one job per workspace)
    return create_job(
        store, loaded, params={}, workspace=workspace, options={}, queue="default",
        schedule=schedule, now=now, shared_workspace=True,
    )  # fmt: skip


def _claim(store, now=NOW, ttl=15.0):
    return store.claim_job(["default"], host="h", pid=1, start="s", now=now, ttl=ttl)


def test_higher_priority_first_then_the_oldest(db_target, workspace):
    store = open_store(db_target)
    low = _queue(store, workspace, now=NOW)
    high = _queue(store, workspace, Schedule(priority=5), now=NOW + 1)
    mid = _queue(store, workspace, Schedule(priority=1), now=NOW + 2)
    older_mid = _queue(store, workspace, Schedule(priority=1), now=NOW - 5)
    order = [_claim(store, now=NOW + 10).job_id for _ in range(4)]
    assert order == [high, older_mid, mid, low]


def test_no_worker_takes_a_job_before_its_time(db_target, workspace):
    store = open_store(db_target)
    later = _queue(store, workspace, Schedule(not_before=NOW + 600))
    assert _claim(store, now=NOW) is None
    assert _claim(store, now=NOW + 599) is None
    claim = _claim(store, now=NOW + 600)
    assert claim is not None and claim.job_id == later


def test_takeovers_count_only_runners_that_died(db_target, workspace):
    store = open_store(db_target)
    job = _queue(store, workspace)
    first = _claim(store)
    assert first.reason == "queued" and first.takeovers == 0
    store.append_events(job, [NewEvent("runner_started", None, {})], now=NOW, token=first.token,
                 update=JobUpdate(set={"state": "running"}))  # fmt: skip
    second = _claim(store, now=NOW + 100)  # its lease ran out: the runner died
    assert second.reason == "lease_expired" and second.takeovers == 1
    third = _claim(store, now=NOW + 200)
    assert third.takeovers == 2


class _DiesAtOnce:
    """A child whose runner marked the job running, then died (as SIGKILL leaves it)."""

    def poll(self):
        return -9

    def send_signal(self, sig):
        pass

    def wait(self, timeout=None):
        return -9


def test_a_job_whose_runner_keeps_dying_becomes_a_dead_letter(db_target, workspace):
    store = open_store(db_target)
    job = _queue(store, workspace)
    clock = [NOW]

    def spawn(claim):
        store.append_events(job, [NewEvent("runner_started", None, {})], now=clock[0],
                     token=claim.token, update=JobUpdate(set={"state": "running"}))  # fmt: skip
        clock[0] += 100  # the next look comes after its lease ran out
        return _DiesAtOnce()

    options = WorkerOptions(once=True, max_takeovers=2, idle_wait=0.01)
    spawned = 0
    for _ in range(6):
        worker = Worker(store, options, spawn=spawn, clock=lambda: clock[0])
        worker.run()
        spawned += len(worker.report.ran)
        if store.get_job(job)["state"] == "failed":
            break
    described = store.get_job(job)
    assert described["state"] == "failed" and described["error_type"] == "dead_letter"
    assert "died 3 times" in described["error_message"]
    assert spawned == 3  # the first run and two takeovers; the third takeover never ran


@pytest.mark.slow
@pytest.mark.e2e
def test_run_queue_with_priority_and_not_before(tmp_path, workspace):
    db = str(tmp_path / "a.db")
    recipe = write(tmp_path / "r.yaml", RECIPE)
    later = agentctl(["run", str(recipe), "--workspace", str(workspace), "--queue", "-q",
                      "--not-before", "1h"], db, tmp_path)  # fmt: skip
    assert later.returncode == 0, later.stderr
    first = agentctl(["run", str(recipe), "--workspace", str(workspace), "--queue", "-q",
                      "--priority", "3"], db, tmp_path)  # fmt: skip
    ran = agentctl(["worker", "--once"], db, tmp_path)
    assert ran.returncode == 0, ran.stderr
    states = {
        j["id"]: j["state"] for j in json.loads(agentctl(["jobs", "--json"], db, tmp_path).stdout)
    }
    assert states == {first.stdout.strip(): "succeeded", later.stdout.strip(): "queued"}
    bad = agentctl(
        ["run", str(recipe), "--workspace", str(workspace), "--priority", "1"], db, tmp_path
    )
    assert bad.returncode == 2 and "--queue" in bad.stderr
    odd = agentctl(["run", str(recipe), "--workspace", str(workspace), "--queue",
                    "--not-before", "someday"], db, tmp_path)  # fmt: skip
    assert odd.returncode == 2 and "neither a delay nor a date" in odd.stderr
