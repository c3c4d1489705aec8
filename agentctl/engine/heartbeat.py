"""The runner's background thread: renews the lease, notices a cancel or an added policy.

A job a warm worker forked has no such thread of its own: the worker renews the leases of all
its jobs in one query per beat (`engine/worker_beat.py`) and tells each job what concerns it
through a pipe, which `ParentBeat` reads. Jobs run without a warm worker keep `Heartbeat`.
"""

from __future__ import annotations

import os
import select
import threading
from collections.abc import Callable
from typing import Protocol

from agentctl.errors import LeaseLost
from agentctl.events import EventType
from agentctl.store import Event, Store

# Past this fraction of the lease without renewing it, the heartbeat stops the job's tools.
STOP_AT_LEASE_FRACTION = 0.8

# What a warm worker tells one of its jobs through the job's pipe, one line each.
SAY_CANCEL = "cancel"  # a cancel was requested
SAY_LEASE_LOST = "lease_lost"  # another runner took the job over
SAY_STORE_LOST = "store_lost"  # the store stayed away until the lease was about to lapse
SAY_POLICY = "policy"  # "policy SEQ": a policy was added; SEQ is its event's seq


class Beat(Protocol):
    """What the runner asks of its heartbeat, wherever the beats come from."""

    cancel_requested: bool
    lease_lost: bool
    store_lost: bool

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def take_added_policies(self) -> list[Event]: ...


class BeatFactory(Protocol):
    """How a runner makes its heartbeat (`Heartbeat` itself, or `parent_beat(fd)`)."""

    def __call__(
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
    ) -> Beat: ...


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


class ParentBeat:
    """The heartbeat of a job whose warm worker holds the lease: a thread that reads what the
    worker says through the job's pipe (`SAY_*` lines) and sets `cancel` as `Heartbeat` does.
    Added policies are read by the runner's own thread, with its store, when it takes them."""

    def __init__(
        self, store: Store, job_id: str, fd: int, *, cancel: threading.Event, seen_seq: int
    ):
        self.store = store
        self.job_id = job_id
        self.fd = fd
        self.cancel = cancel
        self.cancel_requested = False
        self.lease_lost = False
        self.store_lost = False
        self._seen_seq = seen_seq
        self._policy_seq = seen_seq  # the last added policy the worker told of
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="agentctl-parent-beat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            os.close(self.fd)
        except OSError:
            pass

    def take_added_policies(self) -> list[Event]:
        if self._policy_seq <= self._seen_seq:
            return []
        added = self.store.read_events(
            self.job_id, after_seq=self._seen_seq, types=[EventType.POLICY_ADDED]
        )
        if added:
            self._seen_seq = added[-1].seq
        return added

    def _loop(self) -> None:
        pending = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if not ready:
                continue
            chunk = os.read(self.fd, 4096)
            if not chunk:  # the worker closed the pipe (the job left its care, or it died)
                return
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                self._hear(line.decode("ascii", "replace"))

    def _hear(self, line: str) -> None:
        word, _, seq = line.partition(" ")
        if word == SAY_POLICY and seq.isdigit():
            self._policy_seq = max(self._policy_seq, int(seq))
            return
        if word == SAY_CANCEL:
            self.cancel_requested = True
        elif word == SAY_LEASE_LOST:
            self.lease_lost = True
        elif word == SAY_STORE_LOST:
            self.store_lost = True
        else:
            return
        self.cancel.set()


def parent_beat(fd: int) -> BeatFactory:
    """The heartbeat factory of a job forked by a warm worker: it hears the worker on `fd`."""

    def make(
        store: Store,
        job_id: str,
        token: int,
        *,
        ttl: float,
        interval: float,
        clock: Callable[[], float],
        cancel: threading.Event,
        seen_seq: int = 0,
    ) -> Beat:
        return ParentBeat(store, job_id, fd, cancel=cancel, seen_seq=seen_seq)

    return make
