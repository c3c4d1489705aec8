"""The runner's background thread: renews the lease, notices a cancel or an added policy."""

from __future__ import annotations

import threading
from collections.abc import Callable

from agentctl.errors import LeaseLost
from agentctl.events import EventType
from agentctl.store import Event, Store

# Past this fraction of the lease without renewing it, the heartbeat stops the job's tools.
STOP_AT_LEASE_FRACTION = 0.8


class Heartbeat:
    """Polls the job row every `interval` s; renews the lease every `renew_every` s.

    Sets `cancel` when a cancel is requested or the lease is lost, so a running tool is
    killed and the runner stops at its next safe point.
    """

    def __init__(
        self,
        store: Store,
        job_id: str,
        token: int,
        *,
        ttl: float,
        interval: float,
        clock: Callable[[], float],
        cancel: threading.Event,
        seen_seq: int = 0,
    ):
        self.store = store
        self.job_id = job_id
        self.token = token
        self.ttl = ttl
        self.interval = interval
        self.renew_every = max(interval, ttl / 3)
        self.clock = clock
        self.cancel = cancel
        self.cancel_requested = False
        self.lease_lost = False
        self.store_lost = False  # the store stayed away until the lease was about to lapse
        self._seen_seq = seen_seq  # policies added up to here were read by the runner itself
        self._added: list[Event] = []  # `policy add` events not yet taken by the runner
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="agentctl-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def take_added_policies(self) -> list[Event]:
        """The `policy_added` events seen since the last call (the runner applies them)."""
        with self._lock:
            added, self._added = self._added, []
        return added

    def _watch_policies(self, store: Store) -> None:
        # Only `policy_added` events, found by index: a busy job's other events are not read.
        added = store.read_events(
            self.job_id, after_seq=self._seen_seq, types=[EventType.POLICY_ADDED]
        )
        if added:
            self._seen_seq = added[-1].seq
            with self._lock:
                self._added.extend(added)

    def _loop(self) -> None:
        # A connection of its own (the runner's may be busy in a transaction), opened inside
        # the retry loop: the database may be away when the job starts or at any beat.
        store: Store | None = None
        last_renew = self.clock()
        try:
            while not self._stop.wait(self.interval):
                now = self.clock()
                try:
                    if store is None:
                        store = self.store.reopen(retry_for=self.interval)
                    if now - last_renew >= self.renew_every:
                        requested = store.renew_lease(
                            self.job_id, self.token, now=now, ttl=self.ttl
                        )
                        last_renew = now
                    else:
                        requested = store.cancel_requested(self.job_id)
                except LeaseLost:
                    self.lease_lost = True
                    self.cancel.set()
                    return
                except Exception:  # the database is away or busy: try again at the next beat
                    if now - last_renew >= self.ttl * STOP_AT_LEASE_FRACTION:
                        # Before the lease lapses and another runner may take the job over:
                        # stop this job's tools; the job resumes once the database is back.
                        self.store_lost = True
                        self.cancel.set()
                        return
                    continue
                if requested:
                    self.cancel_requested = True
                    self.cancel.set()
                try:
                    self._watch_policies(store)
                except Exception:  # as above: try again at the next beat
                    continue
        finally:
            if store is not None:
                try:
                    store.close()
                except Exception:
                    pass
