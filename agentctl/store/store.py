"""The job store: jobs (with their lease), the append-only event log, blobs, approvals.

The event log is the source of truth and the audit history. The `jobs` row is a projection of
it (state, steps, usage) kept in the same transaction as each append, so listing jobs never
reads logs. Large strings in event data are stored once, by content hash, in `blobs`.

Fencing: every append by a runner names the lease token it holds; if another runner has taken
the lease since, the append is refused with LeaseLost and nothing is written.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentctl.errors import JobBusy, JobNotFound, LeaseLost, UsageError
from agentctl.events import TERMINAL_STATES
from agentctl.store.db import Transactions, connect

# Strings longer than this in event data live in `blobs`, stored once by content hash.
BLOB_THRESHOLD = 1024
_BLOB_KEY = "$blob"

_JOB_COLUMNS = (
    "id",
    "recipe",
    "recipe_path",
    "recipe_blob",
    "params",
    "options",
    "workspace",
    "state",
    "created_at",
    "updated_at",
    "last_seq",
    "steps",
    "error_type",
    "error_message",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "model_calls",
    "tool_calls",
    "lease_token",
    "lease_pid",
    "lease_host",
    "lease_start",
    "lease_expires",
    "heartbeat_at",
    "cancel_requested",
)
_JSON_COLUMNS = ("params", "options", "steps")
_ADDABLE = ("input_tokens", "output_tokens", "cost_usd", "model_calls", "tool_calls")
_SETTABLE = ("state", "steps", "error_type", "error_message", "cancel_requested")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@dataclass
class NewEvent:
    type: str
    step: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    # `data` already serialised compactly (as `_dumps` would), when the caller had to anyway.
    encoded: str | None = None


@dataclass
class Event:
    seq: int
    ts: float
    type: str
    step: str | None
    data: dict[str, Any]


@dataclass
class JobUpdate:
    """How an append changes the job's projection row."""

    set: dict[str, Any] = field(default_factory=dict)
    add: dict[str, float] = field(default_factory=dict)


class Store:
    def __init__(self, path: Path):
        self.path = path
        self.conn = connect(path)
        self.tx = Transactions(self.conn)

    def close(self) -> None:
        self.conn.close()

    # -- blobs ---------------------------------------------------------------------------

    def _put_blob(self, conn: sqlite3.Connection, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
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
        text = encoded if encoded is not None else _dumps(data)
        # No string inside can exceed the threshold when the whole document does not.
        if len(text) <= BLOB_THRESHOLD:
            return text
        return _dumps(self._externalise(conn, data))

    def _externalise(self, conn: sqlite3.Connection, value: Any) -> Any:
        if isinstance(value, str):
            if len(value) > BLOB_THRESHOLD:
                return {_BLOB_KEY: self._put_blob(conn, value.encode("utf-8"))}
            return value
        if isinstance(value, dict):
            return {k: self._externalise(conn, v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._externalise(conn, v) for v in value]
        return value

    def _internalise(self, value: Any, cache: dict[str, str]) -> Any:
        if isinstance(value, dict):
            if len(value) == 1 and _BLOB_KEY in value:
                digest = value[_BLOB_KEY]
                if digest not in cache:
                    cache[digest] = self.get_blob(digest).decode("utf-8")
                return cache[digest]
            return {k: self._internalise(v, cache) for k, v in value.items()}
        if isinstance(value, list):
            return [self._internalise(v, cache) for v in value]
        return value

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
    ) -> None:
        """Insert the job row and its first event in one transaction."""
        with self.tx.write() as conn:
            blob = self._put_blob(conn, recipe_text.encode("utf-8"))
            conn.execute(
                "INSERT INTO jobs (id, recipe, recipe_path, recipe_blob, params, options,"
                " workspace, state, created_at, updated_at, last_seq)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 'interrupted', ?, ?, 1)",
                (
                    job_id,
                    recipe,
                    recipe_path,
                    blob,
                    _dumps(dict(params)),
                    _dumps(dict(options)),
                    workspace,
                    now,
                    now,
                ),
            )
            conn.execute(
                "INSERT INTO events (job_id, seq, ts, type, step, data) VALUES (?, 1, ?, ?, ?, ?)",
                (job_id, now, event.type, event.step, self._encode(conn, event.data)),
            )

    def get_job(self, job_id: str) -> dict[str, Any]:
        row = self.conn.execute(
            f"SELECT {', '.join(_JOB_COLUMNS)} FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
        if row is None:
            raise JobNotFound(f"no job {job_id!r}", "list jobs with `agentctl jobs`")
        return self._job_dict(row)

    def _job_dict(self, row: tuple) -> dict[str, Any]:
        job = dict(zip(_JOB_COLUMNS, row))
        for column in _JSON_COLUMNS:
            job[column] = json.loads(job[column])
        return job

    def recipe_text(self, job: Mapping[str, Any]) -> str:
        return self.get_blob(job["recipe_blob"]).decode("utf-8")

    def find_job(self, ref: str) -> str:
        """A job id from an id, a unique prefix of one, or `last`."""
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
        if not rows:
            raise JobNotFound(f"no job matches {ref!r}", "list jobs with `agentctl jobs`")
        ids = [r[0] for r in rows]
        if ref in ids:
            return ref
        if len(ids) > 1:
            raise UsageError(
                f"{ref!r} matches several jobs: {', '.join(ids[:5])}",
                "type more characters of the job id",
            )
        return ids[0]

    def list_jobs(self, state: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        sql = f"SELECT {', '.join(_JOB_COLUMNS)} FROM jobs"
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
        """Delete jobs with their events and approvals, then blobs nothing refers to any more.

        Returns (jobs deleted, blobs deleted). Blobs are shared by content across jobs, so
        a blob goes only when no remaining event or job names it.
        """
        ids = list(job_ids)
        with self.tx.write() as conn:
            for job_id in ids:
                conn.execute("DELETE FROM events WHERE job_id = ?", (job_id,))
                conn.execute("DELETE FROM approvals WHERE job_id = ?", (job_id,))
                conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
            keep = {row[0] for row in conn.execute("SELECT recipe_blob FROM jobs")}
            for (data,) in conn.execute(
                "SELECT data FROM events WHERE instr(data, ?) > 0", (f'"{_BLOB_KEY}"',)
            ):
                keep.update(_blob_refs(json.loads(data)))
            stale = [row[0] for row in conn.execute("SELECT hash FROM blobs") if row[0] not in keep]
            conn.executemany("DELETE FROM blobs WHERE hash = ?", [(h,) for h in stale])
        return len(ids), len(stale)

    def finished_before(self, cutoff: float) -> list[str]:
        terminal = sorted(TERMINAL_STATES)
        rows = self.conn.execute(
            f"SELECT id FROM jobs WHERE state IN ({', '.join('?' for _ in terminal)})"
            " AND updated_at < ? ORDER BY created_at",
            (*terminal, cutoff),
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
        extra: Callable[[sqlite3.Connection], None] | None = None,
    ) -> list[Event]:
        """Append events (and update the job row) in one transaction.

        `extra(conn)` runs inside the same transaction (e.g. to record an approval with its
        event); an exception from it rolls everything back.

        `token` is the runner's lease token: when another runner has taken the lease since,
        nothing is written and LeaseLost is raised. Writers that do not run the job
        (approve, cancel) pass no token.
        """
        with self.tx.write(durable=durable) as conn:
            # One statement fences the writer and reserves the seqs: a stale token matches no row.
            sets = ["last_seq = last_seq + ?", "updated_at = ?"]
            values: list[Any] = [len(events), now]
            if update:
                for column, value in update.set.items():
                    if column not in _SETTABLE:
                        raise ValueError(column)
                    sets.append(f"{column} = ?")
                    values.append(_dumps(value) if column in _JSON_COLUMNS else value)
                for column, amount in update.add.items():
                    if column not in _ADDABLE:
                        raise ValueError(column)
                    sets.append(f"{column} = {column} + ?")
                    values.append(amount)
            where = "id = ?" + (" AND lease_token = ?" if token is not None else "")
            values.append(job_id)
            if token is not None:
                values.append(token)
            row = conn.execute(
                f"UPDATE jobs SET {', '.join(sets)} WHERE {where} RETURNING last_seq", values
            ).fetchone()
            if row is None:
                if conn.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone() is None:
                    raise JobNotFound(f"no job {job_id!r}", "list jobs with `agentctl jobs`")
                raise LeaseLost(
                    f"job {job_id} was taken over by another runner; this runner stops",
                    f"see `agentctl status {job_id}`",
                )
            if extra is not None:
                extra(conn)
            first_seq = row[0] - len(events) + 1
            written: list[Event] = []
            for seq, event in enumerate(events, start=first_seq):
                conn.execute(
                    "INSERT INTO events (job_id, seq, ts, type, step, data)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        job_id,
                        seq,
                        now,
                        event.type,
                        event.step,
                        self._encode(conn, event.data, event.encoded),
                    ),
                )
                written.append(Event(seq, now, event.type, event.step, event.data))
        return written

    def read_events(self, job_id: str, after_seq: int = 0, limit: int | None = None) -> list[Event]:
        sql = (
            "SELECT seq, ts, type, step, data FROM events WHERE job_id = ? AND seq > ? ORDER BY seq"
        )
        args: list[Any] = [job_id, after_seq]
        if limit:
            sql += " LIMIT ?"
            args.append(limit)
        cache: dict[str, str] = {}
        out = []
        for seq, ts, type_, step, data in self.conn.execute(sql, args):
            decoded = json.loads(data)
            if _BLOB_KEY in data:
                decoded = self._internalise(decoded, cache)
            out.append(Event(seq, ts, type_, step, decoded))
        return out

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
        is_alive: Callable[[int, str], bool],
    ) -> int:
        """Take the job's lease and return the new fencing token, or raise JobBusy."""
        with self.tx.write() as conn:
            row = conn.execute(
                "SELECT lease_pid, lease_host, lease_start, lease_expires, lease_token"
                " FROM jobs WHERE id = ?",
                (job_id,),
            ).fetchone()
            if row is None:
                raise JobNotFound(f"no job {job_id!r}", "list jobs with `agentctl jobs`")
            holder_pid, holder_host, holder_start, expires, token = row
            if holder_pid is not None and lease_is_live(
                holder_host,
                holder_pid,
                holder_start,
                expires,
                now=now,
                host=host,
                is_alive=is_alive,
            ):
                raise JobBusy(
                    f"job {job_id} is already being run by pid {holder_pid} on {holder_host}",
                    f"watch it with `agentctl status {job_id}`, or stop it with"
                    f" `agentctl cancel {job_id}`",
                )
            token += 1
            conn.execute(
                "UPDATE jobs SET lease_token = ?, lease_pid = ?, lease_host = ?, lease_start = ?,"
                " lease_expires = ?, heartbeat_at = ? WHERE id = ?",
                (token, pid, host, start, now + ttl, now, job_id),
            )
        return token

    def renew_lease(self, job_id: str, token: int, *, now: float, ttl: float) -> bool:
        """Extend the lease; returns whether a cancel was requested. Raises LeaseLost."""
        with self.tx.write() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET lease_expires = ?, heartbeat_at = ? WHERE id = ? AND lease_token = ?",
                (now + ttl, now, job_id, token),
            )
            if cursor.rowcount == 0:
                raise LeaseLost(f"job {job_id} was taken over by another runner")
            return bool(
                conn.execute(
                    "SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)
                ).fetchone()[0]
            )

    def cancel_requested(self, job_id: str) -> bool:
        row = self.conn.execute(
            "SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
        return bool(row and row[0])

    def release_lease(self, job_id: str, token: int) -> None:
        with self.tx.write() as conn:
            conn.execute(
                "UPDATE jobs SET lease_pid = NULL, lease_host = NULL, lease_start = NULL,"
                " lease_expires = NULL WHERE id = ? AND lease_token = ?",
                (job_id, token),
            )

    # -- approvals -----------------------------------------------------------------------

    def add_approval(
        self,
        conn: sqlite3.Connection,
        *,
        job_id: str,
        request: str,
        step: str | None,
        key: str,
        tool: str | None,
        args: Mapping[str, Any],
        action_hash: str,
        rules: list[Any],  # rule objects; strings in rows written before them
        reason: str,
        now: float,
    ) -> None:
        """Insert a pending approval; call from `append(extra=...)` so it lands with its event."""
        conn.execute(
            "INSERT INTO approvals (job_id, request, step, key, tool, args, action_hash, rules,"
            " reason, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
            (
                job_id,
                request,
                step,
                key,
                tool,
                _dumps(dict(args)),
                action_hash,
                _dumps(rules),
                reason,
                now,
            ),
        )

    def list_approvals(self, job_id: str, state: str | None = None) -> list[dict[str, Any]]:
        sql = (
            "SELECT request, step, key, tool, args, action_hash, rules, reason, state,"
            " created_at, decided_at, decided_by, comment FROM approvals WHERE job_id = ?"
        )
        args: list[Any] = [job_id]
        if state:
            sql += " AND state = ?"
            args.append(state)
        sql += " ORDER BY created_at, request"
        names = (
            "request",
            "step",
            "key",
            "tool",
            "args",
            "action_hash",
            "rules",
            "reason",
            "state",
            "created_at",
            "decided_at",
            "decided_by",
            "comment",
        )
        out = []
        for row in self.conn.execute(sql, args):
            item = dict(zip(names, row))
            item["args"] = json.loads(item["args"])
            item["rules"] = json.loads(item["rules"])
            out.append(item)
        return out

    def set_approval_state(
        self,
        conn: sqlite3.Connection,
        job_id: str,
        request: str,
        *,
        expect: str,
        state: str,
        now: float,
        by: str | None = None,
        comment: str | None = None,
    ) -> bool:
        """Move an approval from `expect` to `state`; False if it was not in `expect`.
        Approving or denying must say who did (`by`)."""
        if state in ("approved", "denied") and not (by or "").strip():
            raise ValueError("an approval is decided by someone: `by` is required")
        if state in ("approved", "denied", "void"):
            cursor = conn.execute(
                "UPDATE approvals SET state = ?, decided_at = ?, decided_by = ?, comment = ?"
                " WHERE job_id = ? AND request = ? AND state = ?",
                (state, now, by, comment, job_id, request, expect),
            )
        else:
            cursor = conn.execute(
                "UPDATE approvals SET state = ? WHERE job_id = ? AND request = ? AND state = ?",
                (state, job_id, request, expect),
            )
        return cursor.rowcount == 1


def _blob_refs(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        if len(value) == 1 and _BLOB_KEY in value:
            yield value[_BLOB_KEY]
        else:
            for item in value.values():
                yield from _blob_refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _blob_refs(item)


def lease_is_live(
    holder_host: str | None,
    holder_pid: int | None,
    holder_start: str | None,
    expires: float | None,
    *,
    now: float,
    host: str,
    is_alive: Callable[[int, str], bool],
) -> bool:
    """Whether a recorded lease still belongs to a running runner.

    On this host a dead pid frees the lease at once; elsewhere only expiry does.
    """
    if holder_pid is None:
        return False
    if holder_host == host:
        return is_alive(holder_pid, holder_start or "")
    return expires is not None and expires > now
