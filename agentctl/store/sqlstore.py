"""The job store's semantics, written once over SQL: jobs, the append-only log and its hash
chain, blobs, approvals. Leases, claims and workspace holds are in store/leases.py; what SQLite
and PostgreSQL do differently is their `Dialect` (store/dialect.py), as DBOS's `_sys_db.py`
sits over `_sys_db_sqlite.py` and `_sys_db_postgres.py`.

The event log is the source of truth and the audit history. The `jobs` row is a projection of
it (state, steps, usage) kept in the same transaction as each append, so listing jobs never
reads logs. Large strings in event data are stored once, by content hash, in `blobs`.

Fencing: every append by a runner names the lease token it holds; if another runner has taken
the lease since, the append is refused with LeaseLost and nothing is written.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from agentctl.errors import JobNotFound
from agentctl.store.base import (
    FINISHED_STATES,
    ApprovalChange,
    Event,
    JobRecord,
    JobUpdate,
    NewEvent,
    Schedule,
)
from agentctl.store.chain import ChainHeads, StoredEvent, event_hash
from agentctl.store.codec import BLOB_KEY, blob_digest, blob_refs, decode_data, dumps, encode_data
from agentctl.store.dialect import Dialect, Row, Tx
from agentctl.store.leases import Leases
from agentctl.store.sql import (
    APPROVAL_COLUMNS,
    CHAIN_QUERY,
    JOB_COLUMNS,
    JSON_COLUMNS,
    apply_approval,
    approval_dict,
    events_query,
    hash_of,
    job_not_found,
    lease_lost,
    marks,
    pick_job,
    stored_chain,
    update_clauses,
)

# Notified when a job is queued (payload: its queue): idle workers wake at once where a
# dialect can. A job's events notify the job's own channel (`events_channel`).
WORK_CHANNEL = "agentctl_work"
# A watcher marks its job watched for this long, and renews the mark while it waits; appends
# notify the job's channel only while the mark is ahead (PostgreSQL).
WATCH_SECONDS = 30.0
# Ids per statement where a list goes into `IN (...)`: far under both backends' limits.
CHUNK = 500
_INSERT_EVENTS = (
    "INSERT INTO events (job_id, seq, ts, type, step, data, hash) VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def events_channel(job_id: str) -> str:
    """The channel a commit adding events to the job notifies, and `wait_for_events` listens
    on: one per job, so a watcher hears its own job only. A hash of the id, since a channel
    name is an identifier of at most 63 bytes and a job id may be anything."""
    return (
        "agentctl_job_" + hashlib.sha256(job_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    )


def _watched(until: float | None) -> bool:
    """Whether a job marked watched until `until` is watched now (the clock of this machine,
    as a watcher's: clocks in a fleet are assumed in step, as leases assume)."""
    return until is not None and until > time.time()


def put_blob(tx: Tx, data: bytes) -> str:
    digest = blob_digest(data)
    tx.run(
        "INSERT INTO blobs (hash, size, data) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        (digest, len(data), data),
    )
    return digest


def _job(row: Row) -> JobRecord:
    job = dict(zip(JOB_COLUMNS, row))
    for column in JSON_COLUMNS:
        job[column] = json.loads(job[column])
    return cast(JobRecord, job)


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    return (items[i : i + CHUNK] for i in range(0, len(items), CHUNK))


class SqlStore(Leases):
    """The `Store` over a SQL `Dialect`."""

    def __init__(self, dialect: Dialect):
        self.dialect = dialect
        self.heads = ChainHeads()

    @property
    def location(self) -> str:
        return self.dialect.location

    @property
    def target(self) -> str:
        return self.dialect.target

    @property
    def db_file(self) -> Path | None:
        return self.dialect.db_file

    @property
    def logs_dir(self) -> Path:
        return self.dialect.logs_dir

    def reopen(self, *, retry_for: float | None = None) -> SqlStore:
        other = copy.copy(self)  # the same class, with its own connection and chain heads
        other.dialect = self.dialect.reopen(retry_for=retry_for)
        other.heads = ChainHeads()
        return other

    def close(self) -> None:
        self.dialect.close()

    def compact(self) -> None:
        self.dialect.compact()

    def get_blob(self, digest: str) -> bytes:
        row = self.dialect.transact(
            lambda tx: tx.one("SELECT data FROM blobs WHERE hash = ?", (digest,))
        )
        if row is None:
            raise KeyError(digest)
        return bytes(row[0])

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
        recipe_bytes = recipe_text.encode("utf-8")
        values = (
            *(job_id, recipe, recipe_path, blob_digest(recipe_bytes)),
            *(dumps(dict(params)), dumps(dict(options)), workspace),
            *("interrupted" if queue is None else "queued", now, now, queue, key),
            *(schedule.priority, schedule.not_before, None if shared_workspace else workspace),
        )
        heads: list[str] = []

        def create(tx: Tx) -> str:
            # A concurrent creator with the same key waits on the index entry (or the write
            # lock) here, then finds the key taken: the job that has it is returned.
            row = tx.one(
                "INSERT INTO jobs (id, recipe, recipe_path, recipe_blob, params, options,"
                " workspace, state, created_at, updated_at, last_seq, queue, key, priority,"
                " not_before, workspace_lock) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?,"
                " ?, ?) ON CONFLICT (key) DO NOTHING RETURNING id",
                values,
            )
            if row is None:
                taken = tx.one("SELECT id FROM jobs WHERE key = ?", (key,))
                assert taken is not None  # the conflict was on the key
                return str(taken[0])
            put_blob(tx, recipe_bytes)
            data = encode_data(event.data, event.encoded, lambda b: put_blob(tx, b))
            heads[:] = [event_hash(None, job_id, 1, now, event.type, event.step, data)]
            # No events notification: nobody waits for a job before it exists.
            tx.run(_INSERT_EVENTS, (job_id, 1, now, event.type, event.step, data, heads[0]))
            if queue is not None:  # idle workers listen: they claim it at once
                tx.notify(WORK_CHANNEL, queue)
            return job_id

        def landed(tx: Tx) -> bool:
            return tx.one("SELECT 1 FROM jobs WHERE id = ?", (job_id,)) is not None

        created = self.dialect.transact(create, write=True, landed=landed)
        if created == job_id and heads:
            self.heads.wrote(job_id, 1, heads[0])
        return created

    def _select_jobs(self, where: str, args: Sequence[Any], tail: str = "") -> list[JobRecord]:
        sql = f"SELECT {', '.join(JOB_COLUMNS)} FROM jobs {where} {tail}"
        return [_job(row) for row in self.dialect.transact(lambda tx: tx.all(sql, args))]

    def get_job(self, job_id: str) -> JobRecord:
        rows = self._select_jobs("WHERE id = ?", (job_id,))
        if not rows:
            raise job_not_found(job_id)
        return rows[0]

    def recipe_text(self, job: Mapping[str, Any]) -> str:
        return self.get_blob(job["recipe_blob"]).decode("utf-8")

    def find_job(self, ref: str) -> str:
        ref = ref.strip()
        newest = f"ORDER BY created_at DESC, {self.dialect.insert_order} DESC"
        if ref == "last":
            rows = self.dialect.transact(lambda tx: tx.all(f"SELECT id FROM jobs {newest} LIMIT 1"))
            if not rows:
                raise JobNotFound("there are no jobs yet", "start one with `agentctl run RECIPE`")
            return str(rows[0][0])
        if not ref or any(ch in ref for ch in "%_\\"):
            raise job_not_found(ref)
        sql = "SELECT id FROM jobs WHERE id LIKE ? ESCAPE '\\' ORDER BY created_at DESC LIMIT 6"
        rows = self.dialect.transact(lambda tx: tx.all(sql, (ref + "%",)))
        return pick_job(ref, [r[0] for r in rows])

    def list_jobs(self, state: str | None = None, limit: int | None = None) -> list[JobRecord]:
        where = "WHERE state = ?" if state else ""
        args: list[Any] = [state] if state else []
        tail = f"ORDER BY created_at DESC, {self.dialect.insert_order} DESC"
        if limit:
            tail += " LIMIT ?"
            args.append(limit)
        return self._select_jobs(where, args, tail)

    def delete_jobs(self, job_ids: Iterable[str]) -> tuple[int, int]:
        ids = list(job_ids)

        def delete(tx: Tx) -> int:
            for part in _chunks(ids):
                for table, column in (
                    ("events", "job_id"),
                    ("approvals", "job_id"),
                    ("worker_notes", "job_id"),
                    ("jobs", "id"),
                ):
                    tx.run(f"DELETE FROM {table} WHERE {column} IN ({marks(part)})", part)
            # Blobs are shared by content across jobs: one goes only when nothing names it.
            keep = {row[0] for row in tx.all("SELECT recipe_blob FROM jobs")}
            for (data,) in tx.all(
                "SELECT data FROM events WHERE data LIKE ?", (f'%"{BLOB_KEY}"%',)
            ):
                keep.update(blob_refs(json.loads(data)))
            stale = [row[0] for row in tx.all("SELECT hash FROM blobs") if row[0] not in keep]
            for part in _chunks(stale):
                tx.run(f"DELETE FROM blobs WHERE hash IN ({marks(part)})", part)
            return len(stale)

        return len(ids), self.dialect.transact(delete, write=True, durable=True)

    def finished_before(self, cutoff: float) -> list[str]:
        sql = (
            f"SELECT id FROM jobs WHERE state IN ({marks(FINISHED_STATES)})"
            " AND updated_at < ? ORDER BY created_at"
        )
        rows = self.dialect.transact(lambda tx: tx.all(sql, (*FINISHED_STATES, cutoff)))
        return [row[0] for row in rows]

    # -- events --------------------------------------------------------------------------

    def append_events(
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
        sets, set_values = update_clauses(update)
        where = "id = ?" + (" AND lease_token = ?" if token is not None else "")
        values = [len(events), now, *set_values, job_id, *([] if token is None else [token])]
        reserved: list[int] = []
        heads: list[str | None] = []

        def write(tx: Tx) -> list[Event]:
            # One statement fences the writer and reserves the seqs: a stale token matches no
            # row, and the row lock (or the write lock) orders concurrent appenders.
            row = tx.one(
                f"UPDATE jobs SET {', '.join(sets)} WHERE {where}"
                " RETURNING last_seq, watched_until",
                values,
            )
            if row is None:
                if tx.one("SELECT 1 FROM jobs WHERE id = ?", (job_id,)) is None:
                    raise job_not_found(job_id)
                raise lease_lost(job_id)
            for change in approvals:
                apply_approval(tx, job_id, change)
            first_seq = row[0] - len(events) + 1
            reserved[:] = [row[0]]
            rows, head = self._chained_rows(tx, job_id, first_seq, events, now)
            heads[:] = [head]
            if rows:
                tx.many(_INSERT_EVENTS, rows)
                # Only while someone watches (a NOTIFY serialises commits cluster-wide). The
                # mark was read under this append's row lock: a watcher marking later reads
                # these events after its mark (store/postgres.py), so it misses none.
                if _watched(row[1]):
                    tx.notify(events_channel(job_id), str(reserved[0]))
            return [
                Event(seq, now, event.type, event.step, event.data)
                for seq, event in enumerate(events, start=first_seq)
            ]

        def landed(tx: Tx) -> bool:
            # The last seq this append reserved holds its last event, written at `now`.
            if not events or not reserved:
                return False
            sql = "SELECT type, ts FROM events WHERE job_id = ? AND seq = ?"
            found = tx.one(sql, (job_id, reserved[0]))
            return found is not None and found[0] == events[-1].type and found[1] == now

        written = self.dialect.transact(write, write=True, durable=durable, landed=landed)
        if written:
            self.heads.wrote(job_id, written[-1].seq, heads[0])
        return written

    def _chained_rows(
        self, tx: Tx, job_id: str, first_seq: int, events: list[NewEvent], now: float
    ) -> tuple[list[tuple[Any, ...]], str | None]:
        """The events' rows from `first_seq` on, each hashed onto the one before it, and the
        last hash (the job's new chain head)."""
        head = self.heads.prev(job_id, first_seq - 1, lambda: hash_of(tx, job_id, first_seq - 1))
        rows = []
        for seq, event in enumerate(events, start=first_seq):
            data = encode_data(event.data, event.encoded, lambda b: put_blob(tx, b))
            head = event_hash(head, job_id, seq, now, event.type, event.step, data)
            rows.append((job_id, seq, now, event.type, event.step, data, head))
        return rows, head

    def stored_events(self, job_id: str) -> tuple[list[StoredEvent], int]:
        return stored_chain(
            job_id, self.dialect.transact(lambda tx: tx.all(CHAIN_QUERY, (job_id,)))
        )

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
        sql, args = events_query(job_id, after_seq, limit, types)
        if types is not None:
            sql = self.dialect.events_index(sql)

        def read(tx: Tx) -> tuple[list[Row], dict[str, bytes]]:
            rows = tx.all(sql, args)
            digests = sorted(
                {d for *_, data in rows if BLOB_KEY in data for d in blob_refs(json.loads(data))}
            )
            blobs: dict[str, bytes] = {}
            for part in _chunks(digests):  # the page's blobs in one query (a page: few)
                found = tx.all(f"SELECT hash, data FROM blobs WHERE hash IN ({marks(part)})", part)
                blobs.update((h, bytes(d)) for h, d in found)
            return rows, blobs

        rows, blobs = self.dialect.transact(read)
        cache = {d: b.decode("utf-8", "surrogatepass") for d, b in blobs.items()}
        return [
            Event(seq, ts, type_, step, decode_data(data, self.get_blob, cache))
            for seq, ts, type_, step, data in rows
        ]

    def wait_for_events(self, job_id: str, after_seq: int, timeout: float) -> None:
        self.dialect.wait_for_events(
            job_id, after_seq, timeout, lambda until: self._last_seq(job_id, until)
        )

    def _last_seq(self, job_id: str, watch_until: float | None = None) -> int:
        """The job's last seq; with `watch_until`, marked watched until then (a later mark
        stays) in the same statement: the row lock orders the mark with each append, so an
        append either sees the mark (and notifies) or is counted in the seq read here."""
        if watch_until is None:
            sql = "SELECT last_seq FROM jobs WHERE id = ?"
            row = self.dialect.transact(lambda tx: tx.one(sql, (job_id,)))
        else:
            sql = (
                "UPDATE jobs SET watched_until = CASE WHEN watched_until IS NULL"
                " OR watched_until < ? THEN ? ELSE watched_until END"
                " WHERE id = ? RETURNING last_seq"
            )
            args = (watch_until, watch_until, job_id)
            # A commit without an answer is simply run again: a mark twice is one mark.
            row = self.dialect.transact(
                lambda tx: tx.one(sql, args), write=True, landed=lambda tx: False
            )
        return 1 << 62 if row is None else int(row[0])  # no job: nothing to wait for

    # -- approvals -----------------------------------------------------------------------

    def list_approvals(self, job_id: str, state: str | None = None) -> list[dict[str, Any]]:
        sql = f"SELECT {', '.join(APPROVAL_COLUMNS)} FROM approvals WHERE job_id = ?"
        args: list[Any] = [job_id]
        if state:
            sql += " AND state = ?"
            args.append(state)
        sql += " ORDER BY created_at, request"
        return [approval_dict(row) for row in self.dialect.transact(lambda tx: tx.all(sql, args))]
