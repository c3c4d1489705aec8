"""The runner's heartbeat: it learns of added policies without reading the job's other events."""

from __future__ import annotations

import threading
import time

from test_store import NOW, make

from agentctl.engine.heartbeat import Heartbeat
from agentctl.events import EventType
from agentctl.store import Event, JobUpdate, NewEvent, Store
from agentctl.store.sqlite import SQLiteStore


class CountingStore:
    """A store that remembers every event `read_events` handed out (across reopens)."""

    def __init__(self, inner: Store, handed: list[Event]):
        self.inner, self.handed = inner, handed

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def reopen(self, *, retry_for=None) -> CountingStore:
        return CountingStore(self.inner.reopen(retry_for=retry_for), self.handed)

    def read_events(self, *args, **kwargs) -> list[Event]:
        events = self.inner.read_events(*args, **kwargs)
        self.handed.extend(events)
        return events


def test_the_heartbeat_reads_only_added_policies_not_the_jobs_traffic(tmp_path):
    inner = SQLiteStore(tmp_path / "hb.db")
    make(inner, "j")
    token = inner.acquire_lease(
        "j", host="h", pid=1, start="", now=NOW, ttl=3600, is_alive=lambda pid, start: True
    )
    busy = [NewEvent(EventType.MODEL_RESPONSE, "s", {"text": "x" * 100}) for _ in range(300)]
    inner.append_events("j", busy, now=NOW, token=token)
    added = NewEvent(EventType.POLICY_ADDED, None, {"path": "p.yaml", "text": "version: 1"})
    inner.append_events("j", [added], now=NOW)
    inner.append_events("j", busy, now=NOW, token=token)

    handed: list[Event] = []
    beat = Heartbeat(
        CountingStore(inner, handed),  # type: ignore[arg-type]
        "j",
        token,
        ttl=3600,
        interval=0.01,
        clock=lambda: NOW,
        cancel=threading.Event(),
        seen_seq=1,
    )
    beat.start()
    try:
        taken: list[Event] = []
        deadline = time.monotonic() + 30
        while not taken and time.monotonic() < deadline:
            taken = beat.take_added_policies()
            time.sleep(0.01)
        time.sleep(0.1)  # a few more beats with nothing new
    finally:
        beat.stop()
        inner.close()
    assert [e.data["path"] for e in taken] == ["p.yaml"]
    assert handed and {e.type for e in handed} == {EventType.POLICY_ADDED}


class AwayStore:
    """A store the heartbeat reaches through a switch: while `away`, opening and every call
    fail as a lost server does."""

    def __init__(self, inner: Store):
        self.inner, self.away, self.reopens = inner, True, 0

    def __getattr__(self, name):
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            if self.away:
                raise ConnectionError("server closed the connection")
            return attr(*args, **kwargs)

        return call

    def reopen(self, *, retry_for=None) -> AwayStore:
        self.reopens += 1
        if self.away:
            raise ConnectionError("cannot connect: the server is away")
        return self  # calls keep going through the switch


def _beat(store, job: str, token: int, ttl: float) -> tuple[Heartbeat, threading.Event]:
    cancel = threading.Event()
    beat = Heartbeat(store, job, token, ttl=ttl, interval=0.02, clock=time.monotonic, cancel=cancel)
    beat.start()
    return beat, cancel


def _leased(tmp_path) -> tuple[SQLiteStore, str, int]:
    store = SQLiteStore(tmp_path / "a.db")
    job = make(store, "job1")
    token = store.acquire_lease(
        job, host="h", pid=1, start="s", now=time.time(), ttl=60, is_alive=lambda p, s: False
    )
    return store, job, token


def test_the_heartbeat_survives_a_database_that_is_away_when_it_starts(tmp_path):
    """The reopen that used to run outside the retry loop killed the thread for good."""
    store, job, token = _leased(tmp_path)
    away = AwayStore(store)
    beat, cancel = _beat(away, job, token, ttl=60)
    try:
        time.sleep(0.3)
        assert away.reopens >= 2 and beat._thread.is_alive() and not cancel.is_set()
        away.away = False  # back: a cancel requested now is still noticed
        store.append_events(
            job,
            [NewEvent(EventType.CANCEL_REQUESTED, None, {"by": "test"})],
            now=NOW,
            update=JobUpdate(set={"cancel_requested": 1}),
        )
        assert cancel.wait(10)
        assert beat.cancel_requested and not beat.store_lost
    finally:
        beat.stop()


def test_a_database_away_until_the_lease_would_lapse_stops_the_jobs_tools(tmp_path):
    store, job, token = _leased(tmp_path)
    away = AwayStore(store)
    away.away = False
    beat, cancel = _beat(away, job, token, ttl=1.0)
    try:
        time.sleep(0.2)
        assert not cancel.is_set()
        away.away = True  # gone: no renewal from now on
        assert cancel.wait(5), "the tools must stop before the lease lapses"
        assert beat.store_lost and not beat.lease_lost and not beat.cancel_requested
    finally:
        beat.stop()
