"""The SQLite store (the default): one database file, for the jobs of one machine.

The event log is the source of truth and the audit history. The `jobs` row is a projection of
it (state, steps, usage) kept in the same transaction as each append, so listing jobs never
reads logs. Large strings in event data are stored once, by content hash, in `blobs`.

Fencing: every append by a runner names the lease token it holds; if another runner has taken
the lease since, the append is refused with LeaseLost and nothing is written.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from agentctl.errors import JobNotFound, LeaseLost
from agentctl.store.base import (
    FINISHED_STATES,
    ApprovalChange,
    Claim,
    Event,
    IsAlive,
    JobUpdate,
    LeaseBeat,
    NewEvent,
    Schedule,
    Store,
    lease_is_live,
    workspace_busy,
)
from agentctl.store.chain import ChainHeads, StoredEvent, event_hash
from agentctl.store.codec import BLOB_KEY, blob_digest, blob_refs, decode_data, dumps, encode_data
from agentctl.store.db import Transactions, connect
from agentctl.store.sql import (
    APPROVAL_COLUMNS,
    CLAIM_ORDER,
    DUE,
    JOB_COLUMNS,
    JSON_COLUMNS,
    LAST_POLICY_SEQ,
    RUNNABLE,
    RUNNABLE_REASON,
    TAKEOVERS,
    WORKSPACE_FREE,
    WORKSPACE_HOLDERS,
    apply_approval,
    approval_dict,
    chain_query,
    events_query,
    job_busy,
    lease_lost,
    live_holder,
    pick_job,
    prev_hash_query,
    stored_chain,
    update_clauses,
)

# How often `wait_for_events` looks at the log: SQLite has no way to be told.
POLL_SECONDS = 0.2
WORK_POLL_SECONDS = 0.02  # an idle worker's look for queued jobs

_dumps = dumps


class SQLiteStore:
    """The `Store` on one SQLite file (WAL, short BEGIN IMMEDIATE transactions)."""

    def __init__(self, path: Path):
        self.path = path
        self.conn = connect(path)
        self.tx = Transactions(self.conn)
        self.heads = ChainHeads()

    @property
    def location(self) -> str:
        return str(self.path)

    @property
    def target(self) -> str:
        return str(self.path)

    @property
    def db_file(self) -> Path | None:
        return None if str(self.path) == ":memory:" else self.path

    @property
    def logs_dir(self) -> Path:
        return self.path.parent / "logs"

    def reopen(self, *, retry_for: float | None = None) -> SQLiteStore:
        return SQLiteStore(self.path)

    def close(self) -> None:
        self.conn.close()

    def compact(self) -> None:
        import sqlite_utils

        sqlite_utils.Database(self.conn).vacuum()

    # -- blobs ---------------------------------------------------------------------------

    def _put_blob(self, conn: sqlite3.Connection, data: bytes) -> str:
        digest = blob_digest(data)
        conn.execute(
            "INSERT OR IGNORE INTO blobs (hash, size, data) VALUES (?, ?, ?)",
            (digest, len(data), data),
        )
        return digest

    def get_blob(self, digest: str) -> bytes:
        row = self.conn.execute("SELECT data FROM blobs WHERE hash = ?", (digest,)).fetchone()
        if row is None:
            raise KeyError(digest)
        return bytes(row[0])

    def _encode(
        self, conn: sqlite3.Connection, data: dict[str, Any], encoded: str | None = None
    ) -> str:
        return encode_data(data, encoded, lambda blob: self._put_blob(conn, blob))

    # -- jobs ----------------------------------------------------------------------------

    def create_job(
        self,
        *,
        job_id: str,
        recipe: str,
        recipe_path: str | None,
        recipe_text: str,
        params: Mapping[str, Any],
        options: Mapping[str, Any],
        workspace: str,
        now: float,
        event: NewEvent,
        queue: str | None = None,
        key: str | None = None,
        schedule: Schedule | None = None,
        shared_workspace: bool = False,
    ) -> str:
        schedule = schedule or Schedule()
        # BEGIN IMMEDIATE: no other writer comes between the key's lookup and the insert.
        with self.tx.write() as conn:
            if key is not None:
                row = conn.execute("SELECT id FROM jobs WHERE key = ?", (key,)).fetchone()
                if row is not None:
                    return str(row[0])
            blob = self._put_blob(conn, recipe_text.encode("utf-8"))
            conn.execute(
                "INSERT INTO jobs (id, recipe, recipe_path, recipe_blob, params, options,"
                " workspace, state, created_at, updated_at, last_seq, queue, key, priority,"
                " not_before, workspace_lock) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    recipe,
                    recipe_path,
                    blob,
                    _dumps(dict(params)),
                    _dumps(dict(options)),
                    workspace,
                    "interrupted" if queue is None else "queued",
                    now,
                    now,
                    queue,
                    key,
                    schedule.priority,
                    schedule.not_before,
                    None if shared_workspace else workspace,
                ),
            )
            data = self._encode(conn, event.data, event.encoded)
            head = event_hash(None, job_id, 1, now, event.type, event.step, data)
            conn.execute(
                "INSERT INTO events (job_id, seq, ts, type, step, data, hash)"
                " VALUES (?, 1, ?, ?, ?, ?, ?)",
                (job_id, now, event.type, event.step, data, head),
            )
        self.heads.wrote(job_id, 1, head)
        return job_id

    def get_job(self, job_id: str) -> dict[str, Any]:
        row = self.conn.execute(
            f"SELECT {', '.join(JOB_COLUMNS)} FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
        if row is None:
            raise JobNotFound(f"no job {job_id!r}", "list jobs with `agentctl jobs`")
        return self._job_dict(row)

    def _job_dict(self, row: tuple) -> dict[str, Any]:
        job = dict(zip(JOB_COLUMNS, row))
        for column in JSON_COLUMNS:
            job[column] = json.loads(job[column])
        return job

    def recipe_text(self, job: Mapping[str, Any]) -> str:
        return self.get_blob(job["recipe_blob"]).decode("utf-8")

    def find_job(self, ref: str) -> str:
        ref = ref.strip()
        if ref == "last":
            row = self.conn.execute(
                "SELECT id FROM jobs ORDER BY created_at DESC, rowid DESC LIMIT 1"
            ).fetchone()
            if row is None:
                raise JobNotFound("there are no jobs yet", "start one with `agentctl run RECIPE`")
            return row[0]
        if not ref or any(ch in ref for ch in "%_\\"):
            raise JobNotFound(f"no job {ref!r}", "list jobs with `agentctl jobs`")
        rows = self.conn.execute(
            "SELECT id FROM jobs WHERE id LIKE ? ESCAPE '\\' ORDER BY created_at DESC LIMIT 6",
            (ref + "%",),
        ).fetchall()
        return pick_job(ref, [r[0] for r in rows])

    def list_jobs(self, state: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        sql = f"SELECT {', '.join(JOB_COLUMNS)} FROM jobs"
        args: list[Any] = []
        if state:
            sql += " WHERE state = ?"
            args.append(state)
        sql += " ORDER BY created_at DESC, rowid DESC"
        if limit:
            sql += " LIMIT ?"
            args.append(limit)
        return [self._job_dict(r) for r in self.conn.execute(sql, args).fetchall()]

    def delete_jobs(self, job_ids: Iterable[str]) -> tuple[int, int]:
        # Blobs are shared by content across jobs: one goes only when nothing names it.
        ids = list(job_ids)
        with self.tx.write() as conn:
            for job_id in ids:
                conn.execute("DELETE FROM events WHERE job_id = ?", (job_id,))
                conn.execute("DELETE FROM approvals WHERE job_id = ?", (job_id,))
                conn.execute("DELETE FROM worker_notes WHERE job_id = ?", (job_id,))
                conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
            keep = {row[0] for row in conn.execute("SELECT recipe_blob FROM jobs")}
            for (data,) in conn.execute(
                "SELECT data FROM events WHERE instr(data, ?) > 0", (f'"{BLOB_KEY}"',)
            ):
                keep.update(blob_refs(json.loads(data)))
            stale = [row[0] for row in conn.execute("SELECT hash FROM blobs") if row[0] not in keep]
            conn.executemany("DELETE FROM blobs WHERE hash = ?", [(h,) for h in stale])
        return len(ids), len(stale)

    def finished_before(self, cutoff: float) -> list[str]:
        rows = self.conn.execute(
            f"SELECT id FROM jobs WHERE state IN {FINISHED_STATES!r}"
            " AND updated_at < ? ORDER BY created_at",
            (cutoff,),
        ).fetchall()
        return [row[0] for row in rows]

    # -- events --------------------------------------------------------------------------

    def append(
        self,
        job_id: str,
        events: list[NewEvent],
        *,
        now: float,
        token: int | None = None,
        durable: bool = False,
        update: JobUpdate | None = None,
        approvals: Sequence[ApprovalChange] = (),
    ) -> list[Event]:
        sets, values = update_clauses(update, "?")
        with self.tx.write(durable=durable) as conn:
            # One statement fences the writer and reserves the seqs: a stale token matches no row.
            where = "id = ?" + (" AND lease_token = ?" if token is not None else "")
            values = [len(events), now, *values, job_id]
            if token is not None:
                values.append(token)
            row = conn.execute(
                f"UPDATE jobs SET {', '.join(sets)} WHERE {where} RETURNING last_seq", values
            ).fetchone()
            if row is None:
                if conn.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone() is None:
                    raise JobNotFound(f"no job {job_id!r}", "list jobs with `agentctl jobs`")
                raise lease_lost(job_id)
            for change in approvals:
                self._apply_approval(conn, job_id, change)
            first_seq = row[0] - len(events) + 1
            head = self.heads.prev(
                job_id, first_seq - 1, lambda: self._hash_of(job_id, first_seq - 1)
            )
            written: list[Event] = []
            for seq, event in enumerate(events, start=first_seq):
                data = self._encode(conn, event.data, event.encoded)
                head = event_hash(head, job_id, seq, now, event.type, event.step, data)
                conn.execute(
                    "INSERT INTO events (job_id, seq, ts, type, step, data, hash)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (job_id, seq, now, event.type, event.step, data, head),
                )
                written.append(Event(seq, now, event.type, event.step, event.data))
        if written:
            self.heads.wrote(job_id, written[-1].seq, head)
        return written

    def _hash_of(self, job_id: str, seq: int) -> str | None:
        row = self.conn.execute(prev_hash_query("?"), (job_id, seq)).fetchone()
        return row[0] if row else None

    def stored_events(self, job_id: str) -> tuple[list[StoredEvent], int]:
        return stored_chain(job_id, self.conn.execute(chain_query("?"), (job_id,)).fetchall())

    def read_events(
        self,
        job_id: str,
        after_seq: int = 0,
        limit: int | None = None,
        *,
        types: Collection[str] | None = None,
    ) -> list[Event]:
        if types is not None and not types:
            return []
        sql, args = events_query(job_id, after_seq, limit, types, "?")
        if types is not None:
            # The planner took the primary key once `events` had 7 columns: name the index.
            sql = sql.replace(" FROM events ", " FROM events INDEXED BY events_type ", 1)
        cache: dict[str, str] = {}
        return [
            Event(seq, ts, type_, step, decode_data(data, self.get_blob, cache))
            for seq, ts, type_, step, data in self.conn.execute(sql, args)
        ]

    def wait_for_events(self, job_id: str, after_seq: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            # fetchall, not fetchone: a statement left unfinished keeps its read snapshot
            # open, and this connection would not see the appends it waits for.
            rows = self.conn.execute("SELECT last_seq FROM jobs WHERE id = ?", (job_id,)).fetchall()
            row = rows[0] if rows else None
            left = deadline - time.monotonic()
            if row is None or row[0] > after_seq or left <= 0:
                return
            time.sleep(min(POLL_SECONDS, left))

    # -- leases --------------------------------------------------------------------------

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
        with self.tx.write() as conn:
            row = conn.execute(
                "SELECT lease_pid, lease_host, lease_start, lease_expires, lease_token,"
                " workspace_lock FROM jobs WHERE id = ?",
                (job_id,),
            ).fetchone()
            if row is None:
                raise JobNotFound(f"no job {job_id!r}", "list jobs with `agentctl jobs`")
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
                rows = conn.execute(WORKSPACE_HOLDERS, (lock, job_id)).fetchall()
                other = live_holder(rows, now=now, host=host, is_alive=is_alive)
                if other is not None:
                    raise workspace_busy(lock, other)
            token += 1
            conn.execute(
                "UPDATE jobs SET lease_token = ?, lease_pid = ?, lease_host = ?, lease_start = ?,"
                " lease_expires = ?, heartbeat_at = ?, workspace_held = ? WHERE id = ?",
                (token, pid, host, start, now + ttl, now, int(held), job_id),
            )
        return token

    def workspace_holder(
        self, workspace: str, *, now: float, host: str, is_alive: IsAlive
    ) -> dict[str, Any] | None:
        rows = self.conn.execute(WORKSPACE_HOLDERS, (workspace, "")).fetchall()
        return live_holder(rows, now=now, host=host, is_alive=is_alive)

    def adopt_lease(
        self, job_id: str, token: int, *, host: str, pid: int, start: str, now: float, ttl: float
    ) -> None:
        with self.tx.write() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET lease_pid = ?, lease_host = ?, lease_start = ?,"
                " lease_expires = ?, heartbeat_at = ? WHERE id = ? AND lease_token = ?",
                (pid, host, start, now + ttl, now, job_id, token),
            )
            if cursor.rowcount == 0:
                raise lease_lost(job_id)

    def renew_lease(self, job_id: str, token: int, *, now: float, ttl: float) -> bool:
        with self.tx.write() as conn:
            row = conn.execute(
                "UPDATE jobs SET lease_expires = ?, heartbeat_at = ?"
                " WHERE id = ? AND lease_token = ? RETURNING cancel_requested",
                (now + ttl, now, job_id, token),
            ).fetchone()
            if row is None:
                raise LeaseLost(f"job {job_id} was taken over by another runner")
            return bool(row[0])

    def cancel_requested(self, job_id: str) -> bool:
        row = self.conn.execute(
            "SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
        return bool(row and row[0])

    def beat_leases(
        self, leases: Mapping[str, int], *, now: float, ttl: float | None
    ) -> dict[str, LeaseBeat]:
        if not leases:
            return {}
        held = " OR ".join("(id = ? AND lease_token = ?)" for _ in leases)
        args = [value for pair in leases.items() for value in pair]
        where = f"lease_pid IS NOT NULL AND ({held})"
        if ttl is None:
            rows = self.conn.execute(
                f"SELECT id, cancel_requested, {LAST_POLICY_SEQ} FROM jobs WHERE {where}", args
            ).fetchall()
        else:
            with self.tx.write() as conn:
                rows = conn.execute(
                    f"UPDATE jobs SET lease_expires = ?, heartbeat_at = ? WHERE {where}"
                    f" RETURNING id, cancel_requested, {LAST_POLICY_SEQ}",
                    [now + ttl, now, *args],
                ).fetchall()
        return {job: LeaseBeat(job, bool(cancel), int(seq or 0)) for job, cancel, seq in rows}

    def release_lease(self, job_id: str, token: int) -> None:
        with self.tx.write() as conn:
            conn.execute(
                "UPDATE jobs SET lease_pid = NULL, lease_host = NULL, lease_start = NULL,"
                " lease_expires = NULL, workspace_held = 0 WHERE id = ? AND lease_token = ?",
                (job_id, token),
            )

    # -- queues and workers --------------------------------------------------------------

    def wait_for_work(self, queues: Sequence[str], timeout: float) -> bool:
        # A file on this machine: a look costs ~50 µs, so look often rather than sleep long.
        deadline = time.monotonic() + timeout
        marks = ",".join("?" * len(queues))
        while True:
            rows = self.conn.execute(
                f"SELECT 1 FROM jobs WHERE state = 'queued' AND queue IN ({marks}) LIMIT 1",
                tuple(queues),
            ).fetchall()
            left = deadline - time.monotonic()
            if rows:
                return True
            if left <= 0:
                return False
            time.sleep(min(WORK_POLL_SECONDS, left))

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
        marks = ", ".join("?" for _ in queues)
        not_skipped = f" AND id NOT IN ({', '.join('?' for _ in skipped)})" if skipped else ""
        # BEGIN IMMEDIATE holds the write lock: no other claimer reads between SELECT and UPDATE.
        with self.tx.write() as conn:
            row = conn.execute(
                f"SELECT id, lease_token, {RUNNABLE_REASON}, takeovers, workspace_lock FROM jobs"
                f" WHERE queue IN ({marks}) AND {RUNNABLE} AND {DUE} AND {WORKSPACE_FREE}"
                f"{not_skipped} ORDER BY {CLAIM_ORDER} LIMIT 1",
                [*queues, now, now, now, now, *skipped],
            ).fetchone()
            if row is None:
                return None
            job_id, token, reason, takeovers, lock = row
            takeovers += reason in TAKEOVERS
            conn.execute(
                "UPDATE jobs SET lease_token = ?, lease_pid = ?, lease_host = ?, lease_start = ?,"
                " lease_expires = ?, heartbeat_at = ?, takeovers = ?, workspace_held = ?"
                " WHERE id = ?",
                (
                    token + 1,
                    pid,
                    host,
                    start,
                    now + ttl,
                    now,
                    takeovers,
                    int(lock is not None),
                    job_id,
                ),
            )
        return Claim(job_id, token + 1, reason, takeovers)

    def note_worker(self, job_id: str, worker: str, note: str, *, now: float) -> None:
        with self.tx.write() as conn:
            conn.execute(
                "INSERT INTO worker_notes (job_id, worker, note, at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (job_id, worker) DO UPDATE SET note = excluded.note, at = excluded.at",
                (job_id, worker, note, now),
            )

    def worker_notes(self, job_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT worker, note, at FROM worker_notes WHERE job_id = ? ORDER BY at, worker",
            (job_id,),
        ).fetchall()
        return [{"worker": w, "note": n, "at": at} for w, n, at in rows]

    # -- approvals -----------------------------------------------------------------------

    def _apply_approval(
        self, conn: sqlite3.Connection, job_id: str, change: ApprovalChange
    ) -> None:
        apply_approval(lambda sql, values: conn.execute(sql, values).rowcount, job_id, change, "?")

    def list_approvals(self, job_id: str, state: str | None = None) -> list[dict[str, Any]]:
        sql = f"SELECT {', '.join(APPROVAL_COLUMNS)} FROM approvals WHERE job_id = ?"
        args: list[Any] = [job_id]
        if state:
            sql += " AND state = ?"
            args.append(state)
        sql += " ORDER BY created_at, request"
        return [approval_dict(row) for row in self.conn.execute(sql, args)]


def _conforms(store: SQLiteStore) -> Store:
    return store  # mypy checks here that SQLiteStore is a Store
