"""A warm worker keeps the leases of all its jobs (issue 25, fleet item 4): one store call per
beat renews them and reads their cancel flags; each job hears what concerns it through a pipe
(`ParentBeat`) instead of polling the database with a connection of its own."""

from __future__ import annotations

import os
import secrets
import threading
import time
from pathlib import Path

import pytest
from test_engine_heartbeat import AwayStore
from test_store import NOW, make

from agentctl.engine.heartbeat import ParentBeat
from agentctl.engine.jobs import cancel_job, create_job
from agentctl.engine.worker import WorkerOptions, forking_worker_for_store
from agentctl.engine.worker_beat import WorkerBeat
from agentctl.events import EventType
from agentctl.process.fork import can_fork
from agentctl.recipe.load import load_recipe_text
from agentctl.store import JobUpdate, LeaseBeat, NewEvent, Store, open_store

DEAD = lambda pid, start: False  # noqa: E731  (the lease holder left: its lease may be taken)


def _leased(store: Store, job: str, ttl: float = 60) -> int:
    make(store, job)
    return store.acquire_lease(job, host="h", pid=1, start="s", now=NOW, ttl=ttl, is_alive=DEAD)


def _request_cancel(store: Store, job: str) -> None:
    store.append_events(
        job,
        [NewEvent(EventType.CANCEL_REQUESTED, None, {"by": "test"})],
        now=NOW,
        update=JobUpdate(set={"cancel_requested": 1}),
    )


def test_one_call_renews_every_lease_still_held_and_reads_their_flags(db_target):
    store = open_store(db_target)
    tokens = {job: _leased(store, job) for job in ("a", "b", "c", "d")}
    _request_cancel(store, "b")
    added = NewEvent(EventType.POLICY_ADDED, None, {"path": "p.yaml", "text": "version: 1"})
    seq = store.append_events("c", [added], now=NOW)[0].seq
    store.release_lease("d", tokens["d"])  # its runner ended: not ours to renew any more
    taken = store.acquire_lease(
        "a", host="h", pid=2, start="s", now=NOW + 61, ttl=60, is_alive=DEAD
    )

    read = store.beat_leases(tokens, now=NOW + 70, ttl=None)
    assert read == {
        "b": LeaseBeat("b", cancel_requested=True, policy_seq=0),
        "c": LeaseBeat("c", cancel_requested=False, policy_seq=seq),
    }
    assert store.get_job("b")["lease_expires"] == NOW + 60  # a read renews nothing

    renewed = store.beat_leases(tokens, now=NOW + 70, ttl=30)
    assert renewed == read
    assert store.get_job("b")["lease_expires"] == store.get_job("c")["lease_expires"] == NOW + 100
    assert store.get_job("a")["lease_expires"] == NOW + 121  # the new holder's lease, untouched
    assert store.get_job("a")["lease_token"] == taken
    assert store.get_job("d")["lease_expires"] is None
    assert store.beat_leases({}, now=NOW, ttl=30) == {}
    store.close()


def _pipe_beat(store: Store, job: str, token: int, *, ttl: float) -> tuple[WorkerBeat, ParentBeat]:
    hear, say = os.pipe()
    worker = WorkerBeat(store, ttl=ttl, interval=0.02)
    worker.add(job, token, say, claimed_at=time.time())
    child = ParentBeat(store, job, hear, cancel=threading.Event(), seen_seq=1)
    child.start()
    worker.start()
    return worker, child


def test_the_job_hears_a_cancel_and_an_added_policy_from_its_worker(tmp_path):
    store = open_store(tmp_path / "a.db")
    token = _leased(store, "j")
    worker, child = _pipe_beat(store, "j", token, ttl=60)
    try:
        added = NewEvent(EventType.POLICY_ADDED, None, {"path": "p.yaml", "text": "version: 1"})
        store.append_events("j", [added], now=NOW)
        deadline = time.monotonic() + 10
        taken = []
        while not taken and time.monotonic() < deadline:
            taken = child.take_added_policies()  # read by the runner's thread, with its store
            time.sleep(0.02)
        assert [e.data["path"] for e in taken] == ["p.yaml"]
        assert child.take_added_policies() == []
        assert not child.cancel.is_set()
        _request_cancel(store, "j")
        assert child.cancel.wait(10)
        assert child.cancel_requested and not child.lease_lost and not child.store_lost
    finally:
        worker.stop()
        child.stop()


def test_the_job_hears_that_another_runner_took_its_lease(tmp_path):
    store = open_store(tmp_path / "a.db")
    token = _leased(store, "j", ttl=60)
    worker, child = _pipe_beat(store, "j", token, ttl=60)
    try:
        store.acquire_lease("j", host="h", pid=2, start="s", now=NOW + 61, ttl=60, is_alive=DEAD)
        assert child.cancel.wait(10)
        assert child.lease_lost and not child.cancel_requested
    finally:
        worker.stop()
        child.stop()


def test_a_store_away_until_the_lease_would_lapse_stops_the_jobs_tools(tmp_path):
    inner = open_store(tmp_path / "a.db")
    token = _leased(inner, "j")
    away = AwayStore(inner)
    away.away = False
    worker, child = _pipe_beat(away, "j", token, ttl=1.0)  # type: ignore[arg-type]
    try:
        time.sleep(0.3)
        assert not child.cancel.is_set()  # beats go through
        away.away = True
        assert child.cancel.wait(5), "the tools must stop before the lease lapses"
        assert child.store_lost and not child.lease_lost and not child.cancel_requested
    finally:
        worker.stop()
        child.stop()


# -- a warm worker's forked jobs ---------------------------------------------------------


class CountingStore:
    """The worker's store; the handle its beat opens counts what it is asked."""

    def __init__(self, inner: Store, calls: list[tuple[str, int]]):
        self.inner, self.calls = inner, calls

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def reopen(self, *, retry_for=None) -> CountingStore:
        return CountingStore(self.inner.reopen(retry_for=retry_for), self.calls)

    def beat_leases(self, leases, **kw):
        self.calls.append(("beat_leases", len(leases)))
        return self.inner.beat_leases(leases, **kw)

    def renew_lease(self, *args, **kw):
        self.calls.append(("renew_lease", 1))
        return self.inner.renew_lease(*args, **kw)

    def cancel_requested(self, *args, **kw):
        self.calls.append(("cancel_requested", 1))
        return self.inner.cancel_requested(*args, **kw)


def _queue(store: Store, workspace: Path, command: str) -> str:
    text = f"version: 1\nname: q\nsteps:\n  - {{id: a, run: '{command}'}}\n"
    loaded = load_recipe_text(text, "<t>")
    return create_job(
        store, loaded, params={}, workspace=workspace, options={}, queue="default",
        shared_workspace=True,
    )  # fmt: skip


class _Running:
    """A warm worker run in a thread of this process until its queue is empty (`--once`).
    The test acts only once every job was forked (`started`): no fork while it uses a
    database library in another thread."""

    def __init__(self, store: Store, jobs: int, *, lease: float):
        self.started = threading.Event()
        self.notes: list[str] = []
        options = WorkerOptions(concurrency=jobs, once=True, lease_ttl=lease, beat_interval=0.1)

        def note(line: str) -> None:
            self.notes.append(line)
            if sum(": running (" in n for n in self.notes) >= jobs:
                self.started.set()

        self.worker = forking_worker_for_store(store, options, on_note=note)
        self.thread = threading.Thread(target=self.worker.run)

    def __enter__(self) -> _Running:
        self.thread.start()
        assert self.started.wait(60), self.notes
        return self

    def __exit__(self, *exc) -> None:
        self.thread.join(timeout=120)
        assert not self.thread.is_alive()


fork_only = pytest.mark.skipif(not can_fork(), reason="warm workers fork (Linux)")


def _connections(url: str, name: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (name,)
        ).fetchone()
    return int(row[0])


@pytest.mark.slow
@fork_only
def test_jobs_under_one_warm_worker_share_one_beat(db_target, workspace):
    """Three running jobs: one store call per beat for all three, none from the jobs' own
    heartbeats; on PostgreSQL the worker's connections and one per job, not two per job."""
    name = f"fleet_{secrets.token_hex(4)}"
    target = f"{db_target}&application_name={name}" if "://" in db_target else db_target
    store = open_store(db_target)
    jobs = [_queue(store, workspace, "sleep 2") for _ in range(3)]
    calls: list[tuple[str, int]] = []
    seen: list[int] = []
    with _Running(CountingStore(open_store(target), calls), 3, lease=30):  # type: ignore[arg-type]
        for _ in range(10):
            if "://" in db_target:
                seen.append(_connections(db_target, name))
            time.sleep(0.1)
    assert [store.get_job(j)["state"] for j in jobs] == ["succeeded"] * 3
    beats = [n for kind, n in calls if kind == "beat_leases"]
    assert 3 in beats  # all three jobs in one call
    assert max(beats) == 3 and {kind for kind, _ in calls} == {"beat_leases"}
    assert len(beats) <= 2 / 0.1 * 2  # about one a beat (0.1 s) over the jobs' ~2 s, not one a job
    if seen:  # the worker (claims, LISTEN, beat) and one per job; two per job before
        assert 3 <= max(seen) <= 3 + 3, seen
    store.close()


@pytest.mark.slow
@fork_only
def test_a_cancel_stops_only_that_job(db_target, workspace):
    store = open_store(db_target)
    stopped = _queue(store, workspace, "sleep 60")
    going = _queue(store, workspace, "sleep 3")
    with _Running(open_store(db_target), 2, lease=30):
        time.sleep(0.5)
        started = time.monotonic()
        assert cancel_job(store, stopped, wait=20) == "cancelled"
        assert time.monotonic() - started < 10
    assert store.get_job(stopped)["state"] == "cancelled"
    assert store.get_job(going)["state"] == "succeeded"
    store.close()


@pytest.mark.slow
@fork_only
def test_a_job_longer_than_its_lease_is_not_taken_over(db_target, workspace):
    store = open_store(db_target)
    job = _queue(store, workspace, "sleep 4")
    taken = []
    with _Running(open_store(db_target), 1, lease=1.0):
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline and store.get_job(job)["state"] != "succeeded":
            claim = store.claim_job(
                ["default"], host="other", pid=1, start="s", now=time.time(), ttl=30
            )
            if claim is not None:
                taken.append(claim)
            time.sleep(0.1)
    assert taken == []
    row = store.get_job(job)
    assert row["state"] == "succeeded" and row["takeovers"] == 0
    starts = store.read_events(job, types=[EventType.RUNNER_STARTED])
    assert len(starts) == 1
    store.close()
