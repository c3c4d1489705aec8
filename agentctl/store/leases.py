"""Who runs a job, written once over SQL: leases and their fencing tokens, the workspace a
runner holds with its lease, workers' claims of runnable jobs, and what workers noted.

`SqlStore` (store/sqlstore.py) is these plus the jobs and the log. A claim is one transaction
that picks the oldest runnable job and takes its lease; its dialect makes concurrent claimers
safe (SQLite: one writer at a time; PostgreSQL: `FOR UPDATE SKIP LOCKED`, as DBOS does, and a
transaction lock per workspace so two claimers of one workspace are ordered).
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from agentctl.errors import LeaseLost
from agentctl.store.base import (
    Claim,
    IsAlive,
    LeaseBeat,
    QueueLimit,
    lease_is_live,
    workspace_busy,
)
from agentctl.store.dialect import Dialect, Tx
from agentctl.store.sql import (
    CLAIM_ORDER,
    DUE,
    LAST_POLICY_SEQ,
    QUEUE_LIMITS,
    QUEUE_OPEN,
    RUNNABLE,
    RUNNABLE_REASON,
    SET_QUEUE_LIMIT,
    TAKEOVERS,
    WORKSPACE_FREE,
    WORKSPACE_HOLDERS,
    job_busy,
    job_not_found,
    lease_lost,
    live_holder,
    marks,
)

# A claim passes over at most this many jobs whose workspace turned out held, then waits.
CLAIM_TRIES = 8
_TAKE_LEASE = (
    "UPDATE jobs SET lease_token = ?, lease_pid = ?, lease_host = ?, lease_start = ?,"
    " lease_expires = ?, heartbeat_at = ?, workspace_held = ?"
)


def workspace_holder_in(
    tx: Tx, lock: str, job_id: str, *, now: float, host: str, is_alive: IsAlive | None
) -> dict[str, Any] | None:
    """The job (not `job_id`) whose runner holds the workspace `lock`, asked under the
    dialect's lock on that workspace, so concurrent takers of one workspace are ordered (each
    statement after the lock sees the commits before it). `is_alive` None: expiry only."""
    tx.lock_workspace(lock)
    rows = tx.all(WORKSPACE_HOLDERS, (lock, job_id))
    if is_alive is None:
        live = [r for r in rows if r[4] is not None and r[4] >= now]
        return {"id": live[0][0], "pid": live[0][1], "host": live[0][2]} if live else None
    return live_holder(rows, now=now, host=host, is_alive=is_alive)


def _queue_still_open(tx: Tx, job_id: str, queue: str, now: float) -> bool:
    """Whether the job's limited queue is still within its limits, asked again under the
    dialect's lock on that queue: concurrent claimers of it are ordered, each sees the claims
    committed before it, and so together they never pass a limit."""
    tx.lock_queue(queue)
    return (
        tx.one(f"SELECT 1 FROM jobs WHERE id = ? AND {QUEUE_OPEN}", (job_id, now, now)) is not None
    )


class Leases:
    """The lease, claim and worker-note methods of `SqlStore`."""

    dialect: Dialect

    def acquire_lease(
        self,
        job_id: str,
        *,
        host: str,
        pid: int,
        start: str,
        now: float,
        ttl: float,
        is_alive: IsAlive,
        hold_workspace: bool = False,
    ) -> int:
        def take(tx: Tx) -> int:
            row = tx.one(
                "SELECT lease_pid, lease_host, lease_start, lease_expires, lease_token,"
                f" workspace_lock FROM jobs WHERE id = ?{self.dialect.for_update}",
                (job_id,),
            )
            if row is None:
                raise job_not_found(job_id)
            holder_pid, holder_host, holder_start, expires, token, lock = row
            if holder_pid is not None and lease_is_live(
                holder_host,
                holder_pid,
                holder_start,
                expires,
                now=now,
                host=host,
                is_alive=is_alive,
            ):
                raise job_busy(job_id, holder_pid, holder_host)
            held = hold_workspace and lock is not None
            if held:
                other = workspace_holder_in(tx, lock, job_id, now=now, host=host, is_alive=is_alive)
                if other is not None:
                    raise workspace_busy(lock, other)
            tx.run(
                f"{_TAKE_LEASE} WHERE id = ?",
                (token + 1, pid, host, start, now + ttl, now, int(held), job_id),
            )
            return int(token + 1)

        return self.dialect.transact(take, write=True)

    def workspace_holder(
        self, workspace: str, *, now: float, host: str, is_alive: IsAlive
    ) -> dict[str, Any] | None:
        rows = self.dialect.transact(lambda tx: tx.all(WORKSPACE_HOLDERS, (workspace, "")))
        return live_holder(rows, now=now, host=host, is_alive=is_alive)

    def adopt_lease(
        self, job_id: str, token: int, *, host: str, pid: int, start: str, now: float, ttl: float
    ) -> None:
        def adopt(tx: Tx) -> None:
            changed = tx.run(
                "UPDATE jobs SET lease_pid = ?, lease_host = ?, lease_start = ?,"
                " lease_expires = ?, heartbeat_at = ? WHERE id = ? AND lease_token = ?",
                (pid, host, start, now + ttl, now, job_id, token),
            )
            if changed == 0:
                raise lease_lost(job_id)

        self.dialect.transact(adopt, write=True)

    def renew_lease(self, job_id: str, token: int, *, now: float, ttl: float) -> bool:
        def renew(tx: Tx) -> bool:
            row = tx.one(
                "UPDATE jobs SET lease_expires = ?, heartbeat_at = ?"
                " WHERE id = ? AND lease_token = ? RETURNING cancel_requested",
                (now + ttl, now, job_id, token),
            )
            if row is None:
                raise LeaseLost(f"job {job_id} was taken over by another runner")
            return bool(row[0])

        return self.dialect.transact(renew, write=True)

    def cancel_requested(self, job_id: str) -> bool:
        sql = "SELECT cancel_requested FROM jobs WHERE id = ?"
        row = self.dialect.transact(lambda tx: tx.one(sql, (job_id,)))
        return bool(row and row[0])

    def beat_leases(
        self, leases: Mapping[str, int], *, now: float, ttl: float | None
    ) -> dict[str, LeaseBeat]:
        if not leases:
            return {}
        held = " OR ".join("(id = ? AND lease_token = ?)" for _ in leases)
        args: list[Any] = [value for pair in leases.items() for value in pair]
        where = f"lease_pid IS NOT NULL AND ({held})"
        if ttl is None:
            sql = f"SELECT id, cancel_requested, {LAST_POLICY_SEQ} FROM jobs WHERE {where}"
        else:
            sql = (
                f"UPDATE jobs SET lease_expires = ?, heartbeat_at = ? WHERE {where}"
                f" RETURNING id, cancel_requested, {LAST_POLICY_SEQ}"
            )
            args = [now + ttl, now, *args]
        rows = self.dialect.transact(lambda tx: tx.all(sql, args), write=ttl is not None)
        return {job: LeaseBeat(job, bool(cancel), int(seq or 0)) for job, cancel, seq in rows}

    def release_lease(self, job_id: str, token: int) -> None:
        sql = (
            "UPDATE jobs SET lease_pid = NULL, lease_host = NULL, lease_start = NULL,"
            " lease_expires = NULL, workspace_held = 0 WHERE id = ? AND lease_token = ?"
        )
        self.dialect.transact(lambda tx: tx.run(sql, (job_id, token)), write=True)

    # -- queues and workers --------------------------------------------------------------

    def wait_for_work(
        self, queues: Sequence[str], timeout: float, *, skip: Collection[str] = ()
    ) -> bool:
        skipped = list(skip)

        def claimable() -> bool:
            # What a claim would take now, read without locks. Not just "a job is queued":
            # a job claimed but not started yet is still `queued`, and every idle worker
            # would try to claim it again (a write each) until its runner starts.
            if not queues:
                return False
            sql, args = self._runnable(queues, time.time(), skipped, locked=False)
            return self.dialect.transact(lambda tx: tx.one(sql, args)) is not None

        return self.dialect.wait_for_work(queues, timeout, claimable)

    def claim_job(
        self,
        queues: Sequence[str],
        *,
        host: str,
        pid: int,
        start: str,
        now: float,
        ttl: float,
        skip: Iterable[str] = (),
    ) -> Claim | None:
        if not queues:
            return None
        skipped = list(skip)

        def claim(tx: Tx) -> Claim | None:
            passed = list(skipped)
            for _ in range(CLAIM_TRIES):
                row = tx.one(*self._runnable(queues, now, passed))
                if row is None:
                    return None
                job_id, token, reason, takeovers, lock, limited, queue = row
                # Two claimers of two jobs in one workspace: the second waits for the first's
                # commit here, then sees its hold and passes over this job.
                if lock is not None and workspace_holder_in(
                    tx, lock, job_id, now=now, host=host, is_alive=None
                ):
                    passed.append(job_id)
                    continue
                if limited and not _queue_still_open(tx, job_id, queue, now):
                    passed.append(job_id)
                    continue
                takeovers += reason in TAKEOVERS
                tx.run(
                    f"{_TAKE_LEASE}, takeovers = ?, claimed_at = ? WHERE id = ?",
                    (token + 1, pid, host, start, now + ttl, now, int(lock is not None))
                    + (takeovers, now, job_id),
                )
                return Claim(job_id, int(token + 1), reason, int(takeovers))
            return None

        return self.dialect.transact(claim, write=True)

    def _runnable(
        self, queues: Sequence[str], now: float, passed: Sequence[str], *, locked: bool = True
    ) -> tuple[str, list[Any]]:
        """The SELECT of the next job a claim takes (the oldest runnable one), locked where
        the dialect locks rows (`locked`): a row another claimer holds is passed over, not
        waited for."""
        not_passed = f" AND id NOT IN ({marks(passed)})" if passed else ""
        sql = (
            f"SELECT id, lease_token, {RUNNABLE_REASON}, takeovers, workspace_lock,"
            " EXISTS (SELECT 1 FROM queue_limits l WHERE l.queue = jobs.queue), queue FROM jobs"
            f" WHERE queue IN ({marks(queues)}) AND {RUNNABLE} AND {DUE} AND {WORKSPACE_FREE}"
            f" AND {QUEUE_OPEN}{not_passed} ORDER BY {CLAIM_ORDER} LIMIT 1"
            f"{self.dialect.skip_locked if locked else ''}"
        )
        return sql, [*queues, now, now, now, now, now, now, *passed]

    def set_queue_limit(self, limit: QueueLimit) -> None:
        def write(tx: Tx) -> None:
            if limit.max_running is None and limit.max_starts is None:
                tx.run("DELETE FROM queue_limits WHERE queue = ?", (limit.queue,))
            else:
                args = (limit.queue, limit.max_running, limit.max_starts, limit.per_seconds)
                tx.run(SET_QUEUE_LIMIT, args)

        self.dialect.transact(write, write=True)

    def queue_limits(self, *, now: float) -> list[QueueLimit]:
        rows = self.dialect.transact(lambda tx: tx.all(QUEUE_LIMITS, (now, now)))
        return [QueueLimit(*row) for row in rows]

    def note_worker(self, job_id: str, worker: str, note: str, *, now: float) -> None:
        sql = (
            "INSERT INTO worker_notes (job_id, worker, note, at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (job_id, worker) DO UPDATE SET note = excluded.note, at = excluded.at"
        )
        self.dialect.transact(lambda tx: tx.run(sql, (job_id, worker, note, now)), write=True)

    def worker_notes(self, job_id: str) -> list[dict[str, Any]]:
        sql = "SELECT worker, note, at FROM worker_notes WHERE job_id = ? ORDER BY at, worker"
        rows = self.dialect.transact(lambda tx: tx.all(sql, (job_id,)))
        return [{"worker": w, "note": n, "at": at} for w, n, at in rows]
