"""A warm worker's beat: one thread and one connection keep the leases of all its jobs.

Each job a warm worker forks used to run a heartbeat thread with a connection of its own,
polling its row four times a second: two connections and ~8 queries/s per running job. The
worker's beat asks once per beat for all its jobs (`Store.beat_leases`: the renewal when it is
due, else a read of the cancel flags and added policies) and tells each job what concerns it
through the job's pipe (`engine/heartbeat.py`'s `SAY_*` lines, read by `ParentBeat`):

- a cancel requested: the job stops as `cancel` stops it;
- its lease gone (another runner took it over): the job stops writing;
- a policy added: the job reads it at its next safe point;
- the store away until 80% of a job's lease went by unrenewed: the job's tools are stopped and
  it ends interrupted (exit 130), before another worker may take it over.

The worker forks its jobs only between beats (`paused`): a child never inherits a lock the
beat thread held in the middle of a query.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from agentctl.engine.heartbeat import (
    SAY_CANCEL,
    SAY_LEASE_LOST,
    SAY_POLICY,
    SAY_STORE_LOST,
    STOP_AT_LEASE_FRACTION,
)
from agentctl.store import LeaseBeat, Store


@dataclass
class _Held:
    token: int
    fd: int  # the write end of the job's pipe
    renewed_at: float
    cancel_said: bool = False
    policy_seq: int = 0  # the last added policy the job was told of


class WorkerBeat:
    """Renews the leases of a worker's running jobs every `ttl / 3` s and reads their cancel
    flags every `interval` s, in one store call per beat, on a connection of its own."""

    def __init__(
        self,
        store: Store,
        *,
        ttl: float,
        interval: float = 0.25,
        clock: Callable[[], float] = time.time,
    ):
        self.store = store
        self.ttl = ttl
        self.interval = interval
        self.renew_every = max(interval, ttl / 3)
        self.clock = clock
        self._jobs: dict[str, _Held] = {}
        self._lock = threading.Lock()  # guards _jobs and the pipes
        self._busy = threading.Lock()  # held for a whole beat
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="agentctl-worker-beat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        with self._lock:
            for held in self._jobs.values():
                _close(held.fd)
            self._jobs.clear()

    def add(self, job_id: str, token: int, fd: int, *, claimed_at: float) -> None:
        """Keep the lease (`token`, taken at `claimed_at`) of a job that hears us on `fd`."""
        os.set_blocking(fd, False)  # a job that stopped reading never blocks the beat
        with self._lock:
            self._jobs[job_id] = _Held(token, fd, claimed_at)

    def remove(self, job_id: str) -> None:
        """The job ended (or left our care): its lease is no longer ours to keep."""
        with self._lock:
            held = self._jobs.pop(job_id, None)
            if held is not None:
                _close(held.fd)

    def close_in_child(self) -> None:
        """In a forked job: let go of the other jobs' pipes (the worker's copy keeps them)."""
        for held in self._jobs.values():
            _close(held.fd)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """No beat runs inside: fork here."""
        with self._busy:
            yield

    def beat(self, store: Store) -> None:
        """One beat: one store call for all the jobs; each told what concerns it."""
        now = self.clock()
        with self._lock:
            held = dict(self._jobs)
        if not held:
            return
        renew = any(now - h.renewed_at >= self.renew_every for h in held.values())
        answer = store.beat_leases(
            {job: h.token for job, h in held.items()}, now=now, ttl=self.ttl if renew else None
        )
        for job, h in held.items():
            self._tell(job, h, answer.get(job), now if renew else None)

    def _tell(self, job: str, held: _Held, seen: LeaseBeat | None, renewed: float | None) -> None:
        if seen is None:
            self._say(job, held, SAY_LEASE_LOST, last=True)
            return
        if renewed is not None:
            held.renewed_at = renewed
        if seen.cancel_requested and not held.cancel_said:
            held.cancel_said = True
            self._say(job, held, SAY_CANCEL)
        if seen.policy_seq > held.policy_seq:
            held.policy_seq = seen.policy_seq
            self._say(job, held, f"{SAY_POLICY} {seen.policy_seq}")

    def _store_away(self) -> None:
        """A beat failed: jobs whose lease is about to lapse stop their tools now."""
        now = self.clock()
        with self._lock:
            held = dict(self._jobs)
        for job, h in held.items():
            if now - h.renewed_at >= self.ttl * STOP_AT_LEASE_FRACTION:
                self._say(job, h, SAY_STORE_LOST, last=True)

    def _say(self, job: str, held: _Held, line: str, *, last: bool = False) -> None:
        with self._lock:
            if self._jobs.get(job) is not held:  # ended meanwhile: its fd may be another's now
                return
            try:
                os.write(held.fd, f"{line}\n".encode())
            except OSError:  # the job is gone, or not reading: the worker reaps it
                pass
            if last:
                del self._jobs[job]
                _close(held.fd)

    def _loop(self) -> None:
        # Opened inside the retry loop: the database may be away at any beat. A short retry,
        # so one beat never blocks past the next.
        store: Store | None = None
        try:
            while not self._stop.wait(self.interval):
                with self._busy:
                    try:
                        if store is None:
                            store = self.store.reopen(retry_for=self.interval)
                        self.beat(store)
                    except Exception:  # the database is away or busy: again at the next beat
                        self._store_away()
        finally:
            if store is not None:
                try:
                    store.close()
                except Exception:
                    pass


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
