"""The PostgreSQL store: the same jobs, log, leases and approvals, shared by many machines.

Same schema idea and the same guarantees as the SQLite store (`store/sqlite.py`): one
transaction per append, fenced by the lease token; workers claim queued jobs with
`FOR UPDATE SKIP LOCKED` (as DBOS does), so two claimers never get the same job; each append
sends `NOTIFY agentctl_events, '<job id>'` so `watch` and `log --follow` wake at once.

Durability as on SQLite: an ordinary commit uses `synchronous_commit = off` (survives a crash
of agentctl, not of the server's machine); a `durable` one waits for the server's WAL flush.

A lost connection (server restart, network cut) is retried for `AGENTCTL_DB_RETRY` seconds
(default 20): a transaction that failed before COMMIT is simply run again; one whose COMMIT
got no answer is checked (did its last event land?) before anything is written again, so
nothing is written twice. Past the deadline: StoreUnavailable.

The password of the URL never leaves this module: `location` and every message hide it.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

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
    StoreError,
    StoreUnavailable,
    lease_is_live,
    workspace_busy,
)
from agentctl.store.chain import ChainHeads, StoredEvent, event_hash
from agentctl.store.codec import BLOB_KEY, blob_digest, blob_refs, decode_data, dumps, encode_data
from agentctl.store.postgres_schema import MIGRATIONS
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

CHANNEL = "agentctl_events"
WORK_CHANNEL = "agentctl_work"  # payload: the queue a job was queued in
DEFAULT_RETRY_SECONDS = 20.0
CONNECT_TIMEOUT_SECONDS = 5
# A claim passes over at most this many jobs whose workspace turned out held, then waits.
CLAIM_TRIES = 8
T = TypeVar("T")


def hide_password(url: str) -> str:
    """The URL with its password (if any) replaced by `***`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "postgresql://***"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def _import_psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise StoreError(
            "PostgreSQL support is not installed (the psycopg package is missing)",
            "install it with `pip install 'agentctl-jobs[postgres]'`",
            exit_code=2,
        ) from None
    return psycopg


class _Uncertain(Exception):
    """The connection broke during COMMIT: the transaction may or may not have landed."""

    def __str__(self) -> str:
        return "the connection broke while committing"


class PostgresStore:
    """The `Store` on a PostgreSQL database named by a `postgresql://` URL."""

    def __init__(self, url: str, *, retry_for: float | None = None, migrated: bool = False):
        self._psycopg = _import_psycopg()
        self._url = url
        self._password = urlsplit(url).password or ""
        env_retry = os.environ.get("AGENTCTL_DB_RETRY")
        self.retry_for = (
            retry_for
            if retry_for is not None
            else float(env_retry)
            if env_retry
            else DEFAULT_RETRY_SECONDS
        )
        self._lock = threading.RLock()
        self._conn: Any = None
        self._listener: Any = None
        self._work_listener: Any = None
        self.heads = ChainHeads()
        self._connect(first=True)
        if not migrated:  # a reopened handle: the first one brought the schema up to date
            self._migrate()

    # -- the connection ------------------------------------------------------------------

    @property
    def location(self) -> str:
        return hide_password(self._url)

    @property
    def target(self) -> str:
        return self._url

    @property
    def db_file(self) -> Path | None:
        return None

    @property
    def logs_dir(self) -> Path:
        from agentctl.paths import default_state_dir

        return default_state_dir() / "logs"

    def reopen(self, *, retry_for: float | None = None) -> PostgresStore:
        return PostgresStore(
            self._url,
            retry_for=self.retry_for if retry_for is None else retry_for,
            migrated=True,
        )

    def close(self) -> None:
        for conn in (self._conn, self._listener, self._work_listener):
            self._close_quietly(conn)
        self._conn = self._listener = self._work_listener = None

    def _scrub(self, text: str) -> str:
        text = text.replace(self._url, self.location)
        return text.replace(self._password, "***") if self._password else text

    def _open(self) -> Any:
        # No session state that matters, so a pooler in transaction mode (PgBouncer) may give
        # each transaction another server connection: no server-side prepared statements
        # (psycopg prepares a statement run 5 times), and commit durability is set per
        # transaction (SET LOCAL in `_run`), never for the session.
        return self._psycopg.connect(
            self._url,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            prepare_threshold=None,
        )

    def _connect(self, *, first: bool = False) -> Any:
        try:
            self._conn = self._open()
        except self._psycopg.Error as error:
            if first:
                raise StoreError(
                    f"cannot connect to the database {self.location}:"
                    f" {self._scrub(str(error)).strip()}",
                    "check the URL in --db or AGENTCTL_DB, that the server runs, and the"
                    " user's password",
                ) from None
            raise
        return self._conn

    def _run(
        self,
        body: Callable[[Any], T],
        *,
        write: bool = False,
        durable: bool = False,
        landed: Callable[[Any], bool] | None = None,
    ) -> T:
        """Run `body(cursor)` in one transaction, reconnecting when the connection is lost.

        `landed(cursor)`: after a COMMIT that got no answer, whether it took effect (then
        `body`'s result stands); without it such a write raises StoreUnavailable.
        """
        deadline = time.monotonic() + self.retry_for
        delay = 0.1
        lost = (self._psycopg.OperationalError, self._psycopg.InterfaceError)
        result: Any = None
        while True:
            committing = False
            try:
                with self._lock:
                    conn = self._conn if self._conn is not None else self._connect()
                    try:
                        if not write:  # one round trip a statement: no BEGIN/COMMIT
                            return body(conn.cursor())
                        with conn.transaction():
                            cursor = conn.cursor()
                            # Ordinary commits do not wait for the server's disk; a durable
                            # one (before an action that is not read-only) does.
                            cursor.execute(
                                "SET LOCAL synchronous_commit = on"
                                if durable
                                else "SET LOCAL synchronous_commit = off"
                            )
                            result = body(cursor)
                            committing = True
                    except lost:
                        if committing:
                            raise _Uncertain() from None
                        raise
                return result
            except (*lost, _Uncertain) as error:
                self._drop()
                if isinstance(error, _Uncertain):
                    if landed is None:
                        raise self._unavailable(error) from None
                    if self._landed(deadline, landed, lost):
                        return result
                    continue  # it did not land: write it again
                if time.monotonic() > deadline:
                    raise self._unavailable(error) from None
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    def _landed(self, deadline: float, landed: Callable[[Any], bool], lost: tuple) -> bool:
        """Whether an uncertain commit took effect, asking (and reconnecting) until the
        deadline; StoreUnavailable past it."""
        while True:
            try:
                with self._lock:
                    conn = self._conn if self._conn is not None else self._connect()
                    with conn.transaction():
                        return landed(conn.cursor())
            except lost as error:
                self._drop()
                if time.monotonic() > deadline:
                    raise self._unavailable(error) from None
                time.sleep(0.5)

    def _drop(self) -> None:
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                except Exception:
                    pass
            self._conn = None

    def _unavailable(self, error: BaseException) -> StoreUnavailable:
        detail = self._scrub(str(error)).strip() or type(error).__name__
        return StoreUnavailable(
            f"lost the connection to the database {self.location} and could not get it back"
            f" within {self.retry_for:g} s: {detail}",
            "the job stays resumable: once the database is back, `agentctl resume JOB`"
            " (or a worker) continues it",
            exit_code=130,
        )

    def _migrate(self) -> None:
        def migrate(cur: Any) -> None:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('agentctl-migrate'))")
            cur.execute("CREATE TABLE IF NOT EXISTS agentctl_schema (version INTEGER NOT NULL)")
            cur.execute("SELECT version FROM agentctl_schema")
            row = cur.fetchone()
            version = row[0] if row else 0
            if row is None:
                cur.execute("INSERT INTO agentctl_schema (version) VALUES (0)")
            for number in range(version, len(MIGRATIONS)):
                cur.execute(MIGRATIONS[number])
                cur.execute("UPDATE agentctl_schema SET version = %s", (number + 1,))

        try:
            self._run(migrate, write=True, durable=True)
        except self._psycopg.Error as error:
            raise StoreError(
                f"cannot prepare the database {self.location}: {self._scrub(str(error)).strip()}",
                "the user in the URL needs the right to create tables in its schema",
            ) from None

    # -- blobs ---------------------------------------------------------------------------

    @staticmethod
    def _put_blob(cur: Any, data: bytes) -> str:
        digest = blob_digest(data)
        cur.execute(
            "INSERT INTO blobs (hash, size, data) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
            (digest, len(data), data),
        )
        return digest

    def get_blob(self, digest: str) -> bytes:
        def read(cur: Any) -> Any:
            cur.execute("SELECT data FROM blobs WHERE hash = %s", (digest,))
            return cur.fetchone()

        row = self._run(read)
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

        def create(cur: Any) -> str:
            blob = self._put_blob(cur, recipe_text.encode("utf-8"))
            # A concurrent creator with the same key waits on the index entry here, then
            # finds the key taken: DO NOTHING, and the job that has it is returned below.
            cur.execute(
                "INSERT INTO jobs (id, recipe, recipe_path, recipe_blob, params, options,"
                " workspace, state, created_at, updated_at, last_seq, queue, key, priority,"
                " not_before, workspace_lock)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 1, %s, %s, %s, %s, %s)"
                " ON CONFLICT (key) DO NOTHING RETURNING id",
                (
                    job_id,
                    recipe,
                    recipe_path,
                    blob,
                    dumps(dict(params)),
                    dumps(dict(options)),
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
            if cur.fetchone() is None:
                cur.execute("SELECT id FROM jobs WHERE key = %s", (key,))
                return str(cur.fetchone()[0])
            data = encode_data(event.data, event.encoded, lambda b: self._put_blob(cur, b))
            head = event_hash(None, job_id, 1, now, event.type, event.step, data)
            cur.execute(
                "INSERT INTO events (job_id, seq, ts, type, step, data, hash)"
                " VALUES (%s, 1, %s, %s, %s, %s, %s)",
                (job_id, now, event.type, event.step, data, head),
            )
            cur.execute("SELECT pg_notify(%s, %s)", (CHANNEL, job_id))
            if queue is not None:  # idle workers LISTEN: they claim it at once
                cur.execute("SELECT pg_notify(%s, %s)", (WORK_CHANNEL, queue))
            return job_id

        def landed(cur: Any) -> bool:
            cur.execute("SELECT 1 FROM jobs WHERE id = %s", (job_id,))
            return cur.fetchone() is not None

        return self._run(create, write=True, landed=landed)

    def _select_jobs(self, where: str, args: Sequence[Any], tail: str = "") -> list[dict[str, Any]]:
        def read(cur: Any) -> list[Any]:
            cur.execute(f"SELECT {', '.join(JOB_COLUMNS)} FROM jobs {where} {tail}", args)
            return cur.fetchall()

        jobs = []
        for row in self._run(read):
            job = dict(zip(JOB_COLUMNS, row))
            for column in JSON_COLUMNS:
                job[column] = json.loads(job[column])
            jobs.append(job)
        return jobs

    def get_job(self, job_id: str) -> dict[str, Any]:
        rows = self._select_jobs("WHERE id = %s", (job_id,))
        if not rows:
            raise JobNotFound(f"no job {job_id!r}", "list jobs with `agentctl jobs`")
        return rows[0]

    def recipe_text(self, job: Mapping[str, Any]) -> str:
        return self.get_blob(job["recipe_blob"]).decode("utf-8")

    def find_job(self, ref: str) -> str:
        ref = ref.strip()

        def read(cur: Any) -> list[Any]:
            if ref == "last":
                cur.execute("SELECT id FROM jobs ORDER BY created_at DESC, rownum DESC LIMIT 1")
            else:
                cur.execute(
                    "SELECT id FROM jobs WHERE id LIKE %s ESCAPE '\\'"
                    " ORDER BY created_at DESC LIMIT 6",
                    (ref + "%",),
                )
            return cur.fetchall()

        if ref == "last":
            rows = self._run(read)
            if not rows:
                raise JobNotFound("there are no jobs yet", "start one with `agentctl run RECIPE`")
            return rows[0][0]
        if not ref or any(ch in ref for ch in "%_\\"):
            raise JobNotFound(f"no job {ref!r}", "list jobs with `agentctl jobs`")
        return pick_job(ref, [r[0] for r in self._run(read)])

    def list_jobs(self, state: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        where = "WHERE state = %s" if state else ""
        args: list[Any] = [state] if state else []
        tail = "ORDER BY created_at DESC, rownum DESC"
        if limit:
            tail += " LIMIT %s"
            args.append(limit)
        return self._select_jobs(where, args, tail)

    def delete_jobs(self, job_ids: Iterable[str]) -> tuple[int, int]:
        ids = list(job_ids)

        def delete(cur: Any) -> int:
            for table, column in (
                ("events", "job_id"),
                ("approvals", "job_id"),
                ("worker_notes", "job_id"),
                ("jobs", "id"),
            ):
                cur.execute(f"DELETE FROM {table} WHERE {column} = ANY(%s)", (ids,))
            cur.execute("SELECT recipe_blob FROM jobs")
            keep = {row[0] for row in cur.fetchall()}
            cur.execute("SELECT data FROM events WHERE strpos(data, %s) > 0", (f'"{BLOB_KEY}"',))
            for (data,) in cur.fetchall():
                keep.update(blob_refs(json.loads(data)))
            cur.execute("SELECT hash FROM blobs")
            stale = [row[0] for row in cur.fetchall() if row[0] not in keep]
            cur.execute("DELETE FROM blobs WHERE hash = ANY(%s)", (stale,))
            return len(stale)

        return len(ids), self._run(delete, write=True, durable=True)

    def finished_before(self, cutoff: float) -> list[str]:
        def read(cur: Any) -> list[Any]:
            cur.execute(
                "SELECT id FROM jobs WHERE state = ANY(%s) AND updated_at < %s ORDER BY created_at",
                (list(FINISHED_STATES), cutoff),
            )
            return cur.fetchall()

        return [row[0] for row in self._run(read)]

    def compact(self) -> None:
        # Autovacuum gives deleted rows' space back to the tables on its own; VACUUM here
        # would only take locks a busy fleet does not need.
        return None

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
        sets, set_values = update_clauses(update, "%s")
        where = "id = %s" + (" AND lease_token = %s" if token is not None else "")
        values = [len(events), now, *set_values, job_id]
        if token is not None:
            values.append(token)
        reserved: list[int] = []
        heads: list[str | None] = []

        def write(cur: Any) -> list[Event]:
            # One statement fences the writer and reserves the seqs: a stale token matches no
            # row, and the row lock orders concurrent appenders.
            cur.execute(
                f"UPDATE jobs SET {', '.join(sets)} WHERE {where}"
                " RETURNING last_seq, pg_notify(%s, id)",
                [*values, CHANNEL],
            )
            row = cur.fetchone()
            if row is None:
                cur.execute("SELECT 1 FROM jobs WHERE id = %s", (job_id,))
                if cur.fetchone() is None:
                    raise JobNotFound(f"no job {job_id!r}", "list jobs with `agentctl jobs`")
                raise lease_lost(job_id)
            for change in approvals:
                _apply_approval(cur, job_id, change)
            first_seq = row[0] - len(events) + 1
            reserved[:] = [row[0]]
            head = self.heads.prev(
                job_id, first_seq - 1, lambda: _hash_of(cur, job_id, first_seq - 1)
            )
            rows = []
            for seq, event in enumerate(events, start=first_seq):
                data = encode_data(event.data, event.encoded, lambda b: self._put_blob(cur, b))
                head = event_hash(head, job_id, seq, now, event.type, event.step, data)
                rows.append((job_id, seq, now, event.type, event.step, data, head))
            heads[:] = [head]
            if rows:
                cur.executemany(
                    "INSERT INTO events (job_id, seq, ts, type, step, data, hash)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    rows,
                )
            return [
                Event(seq, now, event.type, event.step, event.data)
                for seq, event in enumerate(events, start=first_seq)
            ]

        def landed(cur: Any) -> bool:
            # The last seq this append reserved holds its last event, written at `now`.
            if not events or not reserved:
                return False
            cur.execute(
                "SELECT type, ts FROM events WHERE job_id = %s AND seq = %s",
                (job_id, reserved[0]),
            )
            row = cur.fetchone()
            return row is not None and row[0] == events[-1].type and row[1] == now

        written = self._run(write, write=True, durable=durable, landed=landed)
        if written:
            self.heads.wrote(job_id, written[-1].seq, heads[0])
        return written

    def stored_events(self, job_id: str) -> tuple[list[StoredEvent], int]:
        def read(cur: Any) -> list[Any]:
            cur.execute(chain_query("%s"), (job_id,))
            return cur.fetchall()

        return stored_chain(job_id, self._run(read))

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
        sql, args = events_query(job_id, after_seq, limit, types, "%s")

        def read(cur: Any) -> tuple[list[Any], dict[str, bytes]]:
            cur.execute(sql, args)
            rows = cur.fetchall()
            digests = {d for *_, data in rows if BLOB_KEY in data for d in _refs(data)}
            blobs: dict[str, bytes] = {}
            if digests:  # every blob of the page in one query, in the same snapshot
                cur.execute("SELECT hash, data FROM blobs WHERE hash = ANY(%s)", (sorted(digests),))
                blobs = {h: bytes(d) for h, d in cur.fetchall()}
            return rows, blobs

        rows, blobs = self._run(read)
        cache: dict[str, str] = {d: b.decode("utf-8", "surrogatepass") for d, b in blobs.items()}
        return [
            Event(seq, ts, type_, step, decode_data(data, self.get_blob, cache))
            for seq, ts, type_, step, data in rows
        ]

    def wait_for_events(self, job_id: str, after_seq: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        try:
            if self._listener is None:
                self._listener = self._open()
                self._listener.execute(f"LISTEN {CHANNEL}")
            # Listening first, then looking: an append between the two still wakes us.
            if self._last_seq(job_id) > after_seq:
                return
            while (left := deadline - time.monotonic()) > 0:
                for note in self._listener.notifies(timeout=left, stop_after=1):
                    if note.payload == job_id:
                        return
        except self._psycopg.OperationalError:
            if self._listener is not None:
                try:
                    self._listener.close()
                except Exception:
                    pass
            self._listener = None
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))

    def wait_for_work(self, queues: Sequence[str], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        try:
            if self._work_listener is None:
                self._work_listener = self._open()
                self._work_listener.execute(f"LISTEN {WORK_CHANNEL}")
                return True  # jobs queued before we listened: the caller's claim finds them
            while (left := deadline - time.monotonic()) > 0:
                for note in self._work_listener.notifies(timeout=left, stop_after=1):
                    if note.payload in queues:
                        return True
        except self._psycopg.OperationalError:
            self._close_quietly(self._work_listener)
            self._work_listener = None
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        return False

    @staticmethod
    def _close_quietly(conn: Any) -> None:
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    def _last_seq(self, job_id: str) -> int:
        def read(cur: Any) -> Any:
            cur.execute("SELECT last_seq FROM jobs WHERE id = %s", (job_id,))
            return cur.fetchone()

        row = self._run(read)
        return 1 << 62 if row is None else int(row[0])

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
        def take(cur: Any) -> int:
            cur.execute(
                "SELECT lease_pid, lease_host, lease_start, lease_expires, lease_token,"
                " workspace_lock FROM jobs WHERE id = %s FOR UPDATE",
                (job_id,),
            )
            row = cur.fetchone()
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
                other = _workspace_holder(cur, lock, job_id, now=now, host=host, is_alive=is_alive)
                if other is not None:
                    raise workspace_busy(lock, other)
            cur.execute(
                "UPDATE jobs SET lease_token = %s, lease_pid = %s, lease_host = %s,"
                " lease_start = %s, lease_expires = %s, heartbeat_at = %s, workspace_held = %s"
                " WHERE id = %s",
                (token + 1, pid, host, start, now + ttl, now, int(held), job_id),
            )
            return int(token + 1)

        return self._run(take, write=True)

    def workspace_holder(
        self, workspace: str, *, now: float, host: str, is_alive: IsAlive
    ) -> dict[str, Any] | None:
        def read(cur: Any) -> list[Any]:
            cur.execute(WORKSPACE_HOLDERS.replace("?", "%s"), (workspace, ""))
            return cur.fetchall()

        return live_holder(self._run(read), now=now, host=host, is_alive=is_alive)

    def adopt_lease(
        self, job_id: str, token: int, *, host: str, pid: int, start: str, now: float, ttl: float
    ) -> None:
        def adopt(cur: Any) -> None:
            cur.execute(
                "UPDATE jobs SET lease_pid = %s, lease_host = %s, lease_start = %s,"
                " lease_expires = %s, heartbeat_at = %s WHERE id = %s AND lease_token = %s",
                (pid, host, start, now + ttl, now, job_id, token),
            )
            if cur.rowcount == 0:
                raise lease_lost(job_id)

        self._run(adopt, write=True)

    def renew_lease(self, job_id: str, token: int, *, now: float, ttl: float) -> bool:
        def renew(cur: Any) -> bool:
            cur.execute(
                "UPDATE jobs SET lease_expires = %s, heartbeat_at = %s"
                " WHERE id = %s AND lease_token = %s RETURNING cancel_requested",
                (now + ttl, now, job_id, token),
            )
            row = cur.fetchone()
            if row is None:
                raise LeaseLost(f"job {job_id} was taken over by another runner")
            return bool(row[0])

        return self._run(renew, write=True)

    def cancel_requested(self, job_id: str) -> bool:
        def read(cur: Any) -> Any:
            cur.execute("SELECT cancel_requested FROM jobs WHERE id = %s", (job_id,))
            return cur.fetchone()

        row = self._run(read)
        return bool(row and row[0])

    def beat_leases(
        self, leases: Mapping[str, int], *, now: float, ttl: float | None
    ) -> dict[str, LeaseBeat]:
        if not leases:
            return {}
        where = (
            "lease_pid IS NOT NULL AND (id, lease_token) IN"
            " (SELECT * FROM unnest(%s::text[], %s::bigint[]))"
        )
        args = [list(leases), list(leases.values())]

        def beat(cur: Any) -> list[Any]:
            if ttl is None:
                cur.execute(
                    f"SELECT id, cancel_requested, {LAST_POLICY_SEQ} FROM jobs WHERE {where}", args
                )
            else:
                cur.execute(
                    f"UPDATE jobs SET lease_expires = %s, heartbeat_at = %s WHERE {where}"
                    f" RETURNING id, cancel_requested, {LAST_POLICY_SEQ}",
                    [now + ttl, now, *args],
                )
            return cur.fetchall()

        rows = self._run(beat, write=ttl is not None)
        return {job: LeaseBeat(job, bool(cancel), int(seq or 0)) for job, cancel, seq in rows}

    def release_lease(self, job_id: str, token: int) -> None:
        def release(cur: Any) -> None:
            cur.execute(
                "UPDATE jobs SET lease_pid = NULL, lease_host = NULL, lease_start = NULL,"
                " lease_expires = NULL, workspace_held = 0 WHERE id = %s AND lease_token = %s",
                (job_id, token),
            )

        self._run(release, write=True)

    # -- queues and workers --------------------------------------------------------------

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

        def claim(cur: Any) -> Claim | None:
            passed = list(skipped)
            for _ in range(CLAIM_TRIES):
                # SKIP LOCKED: a row another claimer holds is passed over, not waited for, so
                # concurrent workers each get a different job without blocking one another.
                cur.execute(
                    f"SELECT id, lease_token, {RUNNABLE_REASON}, takeovers, workspace_lock"
                    f" FROM jobs WHERE queue = ANY(%s) AND {RUNNABLE.replace('?', '%s')}"
                    f" AND {DUE.replace('?', '%s')} AND {WORKSPACE_FREE.replace('?', '%s')}"
                    " AND NOT (id = ANY(%s))"
                    f" ORDER BY {CLAIM_ORDER} LIMIT 1 FOR UPDATE OF jobs SKIP LOCKED",
                    (list(queues), now, now, now, now, passed),
                )
                row = cur.fetchone()
                if row is None:
                    return None
                job_id, token, reason, takeovers, lock = row
                # Two claimers of two jobs in one workspace: the second waits for the first's
                # commit here, then sees its hold and passes over this job.
                if lock is not None and _workspace_holder(
                    cur, lock, job_id, now=now, host=host, is_alive=None
                ):
                    passed.append(job_id)
                    continue
                takeovers += reason in TAKEOVERS
                cur.execute(
                    "UPDATE jobs SET lease_token = %s, lease_pid = %s, lease_host = %s,"
                    " lease_start = %s, lease_expires = %s, heartbeat_at = %s, takeovers = %s,"
                    " workspace_held = %s WHERE id = %s",
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
                return Claim(job_id, int(token + 1), reason, int(takeovers))
            return None

        return self._run(claim, write=True)

    def note_worker(self, job_id: str, worker: str, note: str, *, now: float) -> None:
        def write(cur: Any) -> None:
            cur.execute(
                "INSERT INTO worker_notes (job_id, worker, note, at) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (job_id, worker) DO UPDATE SET note = excluded.note,"
                " at = excluded.at",
                (job_id, worker, note, now),
            )

        self._run(write, write=True)

    def worker_notes(self, job_id: str) -> list[dict[str, Any]]:
        def read(cur: Any) -> list[Any]:
            cur.execute(
                "SELECT worker, note, at FROM worker_notes WHERE job_id = %s ORDER BY at, worker",
                (job_id,),
            )
            return cur.fetchall()

        return [{"worker": w, "note": n, "at": at} for w, n, at in self._run(read)]

    # -- approvals -----------------------------------------------------------------------

    def list_approvals(self, job_id: str, state: str | None = None) -> list[dict[str, Any]]:
        sql = f"SELECT {', '.join(APPROVAL_COLUMNS)} FROM approvals WHERE job_id = %s"
        args: list[Any] = [job_id]
        if state:
            sql += " AND state = %s"
            args.append(state)
        sql += " ORDER BY created_at, request"

        def read(cur: Any) -> list[Any]:
            cur.execute(sql, args)
            return cur.fetchall()

        return [approval_dict(row) for row in self._run(read)]


def _apply_approval(cur: Any, job_id: str, change: ApprovalChange) -> None:
    def execute(sql: str, values: Sequence[Any]) -> int:
        cur.execute(sql, values)
        return int(cur.rowcount)

    apply_approval(execute, job_id, change, "%s")


def _hash_of(cur: Any, job_id: str, seq: int) -> str | None:
    cur.execute(prev_hash_query("%s"), (job_id, seq))
    row = cur.fetchone()
    return row[0] if row else None


def _workspace_holder(
    cur: Any, lock: str, job_id: str, *, now: float, host: str, is_alive: IsAlive | None
) -> dict[str, Any] | None:
    """The job whose runner holds the workspace `lock`, under a transaction lock on that
    workspace, so concurrent takers of one workspace are ordered (READ COMMITTED: each
    statement after the lock sees the commits before it). `is_alive` None: expiry only."""
    cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("agentctl-workspace:" + lock,))
    cur.execute(WORKSPACE_HOLDERS.replace("?", "%s"), (lock, job_id))
    rows = cur.fetchall()
    if is_alive is None:
        live = [r for r in rows if r[4] is not None and r[4] >= now]
        return {"id": live[0][0], "pid": live[0][1], "host": live[0][2]} if live else None
    return live_holder(rows, now=now, host=host, is_alive=is_alive)


def _refs(data: str) -> Iterable[str]:
    return blob_refs(json.loads(data))


def _conforms(store: PostgresStore) -> Store:
    return store  # mypy checks here that PostgresStore is a Store
