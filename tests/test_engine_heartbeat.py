"""The runner's heartbeat: it learns of added policies without reading the job's other events."""

from __future__ import annotations

import threading
import time

from test_store import NOW, make

from agentctl.engine.heartbeat import Heartbeat
from agentctl.events import EventType
from agentctl.store import Event, NewEvent, Store
from agentctl.store.sqlite import SQLiteStore


class CountingStore:
    """A store that remembers every event `read_events` handed out (across reopens)."""

    def __init__(self, inner: Store, handed: list[Event]):
        self.inner, self.handed = inner, handed

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def reopen(self) -> CountingStore:
        return CountingStore(self.inner.reopen(), self.handed)

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
    inner.append("j", busy, now=NOW, token=token)
    added = NewEvent(EventType.POLICY_ADDED, None, {"path": "p.yaml", "text": "version: 1"})
    inner.append("j", [added], now=NOW)
    inner.append("j", busy, now=NOW, token=token)

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
