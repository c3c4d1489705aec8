"""Idle workers wake on work (issue 25, item 2): a worker's look for work reports only a job a
claim would take, so idle workers do not turn a job another worker already claimed (or one
not due yet, or one they left) into a loop of failing claims, each a write transaction that
delays the claimed job's own first writes."""

from __future__ import annotations

import time

from agentctl.engine.jobs import create_job
from agentctl.engine.worker import Worker, WorkerOptions
from agentctl.recipe.load import load_recipe_text
from agentctl.store import Schedule, open_store

RECIPE = "version: 1\nname: q\nsteps:\n  - {id: a, run: 'true'}\n"


def _queue(store, workspace, schedule=None) -> str:
    loaded = load_recipe_text(RECIPE, "<t>")
    return create_job(
        store, loaded, params={}, workspace=workspace, options={}, queue="default",
        schedule=schedule, shared_workspace=True,
    )  # fmt: skip


def _claim(store):
    return store.claim_job(["default"], host="h", pid=1, start="s", now=time.time(), ttl=60.0)


def test_a_job_another_worker_claimed_is_not_work(db_target, workspace):
    store, idle = open_store(db_target), open_store(db_target)
    _queue(store, workspace)
    assert _claim(store) is not None  # still `queued` until its runner starts
    assert store.get_job(store.find_job("last"))["state"] == "queued"
    assert idle.wait_for_work(["default"], 0.05) is False
    store.close()
    idle.close()


def test_a_job_not_due_yet_is_not_work(db_target, workspace):
    store = open_store(db_target)
    _queue(store, workspace, Schedule(not_before=time.time() + 600))
    assert store.wait_for_work(["default"], 0.05) is False
    store.close()


def test_a_job_the_worker_left_is_not_work_for_it(db_target, workspace):
    store, other = open_store(db_target), open_store(db_target)
    job = _queue(store, workspace)
    assert store.wait_for_work(["default"], 0.05, skip=[job]) is False
    assert other.wait_for_work(["default"], 0.05) is True  # another worker's work
    store.close()
    other.close()


def test_a_queued_job_wakes_a_waiting_worker_after_the_look(db_target, workspace):
    """A job queued while the worker waits (after its first look) still wakes it."""
    import threading

    waiter, writer = open_store(db_target), open_store(db_target)
    assert waiter.wait_for_work(["default"], 0.01) is False  # PostgreSQL: LISTEN from now on
    woke: list[bool] = []
    thread = threading.Thread(target=lambda: woke.append(waiter.wait_for_work(["default"], 20)))
    thread.start()
    time.sleep(0.2)
    _queue(writer, workspace)
    thread.join(timeout=30)
    assert woke == [True]
    waiter.close()
    writer.close()


class _Running:
    def poll(self):
        return None

    def send_signal(self, sig):
        pass

    def wait(self, timeout=None):
        return 0


def test_a_waiting_worker_does_not_look_at_the_jobs_it_left():
    seen: list[set[str]] = []

    class _Store:
        def wait_for_work(self, queues, timeout, *, skip=()):
            seen.append(set(skip))
            return True

    worker = Worker(_Store(), WorkerOptions(concurrency=2), spawn=lambda claim: _Running())
    worker.children["j"] = _Running()
    worker.skip_until["gone"] = time.time() + 30
    worker.skip_until["back"] = time.time() - 1  # its time to be looked at again came
    worker._wait(0.2)
    assert seen == [{"gone"}]
