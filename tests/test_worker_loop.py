"""The worker's own loop: what it costs while its jobs run (issue 25, warm workers)."""

from __future__ import annotations

import time

from agentctl.engine.jobs import create_job
from agentctl.engine.worker import Worker, WorkerOptions
from agentctl.process.fork import fork_child
from agentctl.recipe.load import load_recipe_text
from agentctl.store import open_store

RECIPE = "version: 1\nname: q\nsteps:\n  - {id: a, run: 'true'}\n"


def _queue(store, workspace) -> str:
    loaded = load_recipe_text(RECIPE, "<t>")
    return create_job(
        store, loaded, params={}, workspace=workspace, options={}, queue="default",
        shared_workspace=True,
    )  # fmt: skip


class _Counted:
    """The store, counting the calls the worker's loop makes."""

    def __init__(self, store):
        self.store = store
        self.calls = {"claim_job": 0, "wait_for_work": 0}

    def __getattr__(self, name):
        found = getattr(self.store, name)
        if name not in self.calls:
            return found

        def counted(*args, **kwargs):
            self.calls[name] += 1
            return found(*args, **kwargs)

        return counted


def test_a_busy_worker_waits_for_its_job_instead_of_asking_the_store_for_work(
    db_target, workspace, tmp_path
):
    """With every slot busy and more jobs queued, the loop asked the store for work, was told
    there is some, could not claim it, and asked again: ~2,400 queries a job on SQLite (a
    core's worth of CPU in each warm worker). A full worker now waits for a job to end."""
    store = open_store(db_target)
    for _ in range(3):
        _queue(store, workspace)
    counted = _Counted(store)

    def spawn(claim):
        return fork_child(lambda: time.sleep(0.4) or 0, log_path=tmp_path / f"{claim.job_id}.log")

    worker = Worker(counted, WorkerOptions(once=True, concurrency=1), spawn=spawn)  # type: ignore[arg-type]
    started, cpu = time.monotonic(), time.process_time()
    report = worker.run()
    assert sorted(report.ran.values()) == [0, 0, 0]
    assert time.monotonic() - started >= 1.2
    # 3 claims, 1 that finds none; the loop looks at most a few times per job
    assert counted.calls["claim_job"] <= 12, counted.calls
    assert counted.calls["wait_for_work"] <= 12, counted.calls
    assert time.process_time() - cpu < 0.6  # (was ~1.2 s: the loop spun for 1.2 s)
    store.close()
