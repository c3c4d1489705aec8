"""The SQLite dialect (the default store): one database file, for the jobs of one machine.

Write transactions are short `BEGIN IMMEDIATE ... COMMIT`s, one at a time: SQLite's write lock
orders claimers and appenders, so rows need no locks. Nothing notifies: waiting for events or
for work is a cheap look at the file, repeated.

Durability is chosen per transaction. Most commits use `synchronous=NORMAL` (in WAL mode: safe
against a process crash, no fsync). A commit that precedes a side effect which must not be
repeated uses `synchronous=FULL`, so the WAL is fsynced once before the effect starts; that
fsync also makes every earlier NORMAL commit durable. A job therefore costs at most one fsync
per side-effecting step.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agentctl.store.base import Store
from agentctl.store.db import connect
from agentctl.store.dialect import Dialect, Landed, Row, T, Tx
from agentctl.store.sqlstore import SqlStore

# How often `wait_for_events` looks at the log: SQLite has no way to be told.
POLL_SECONDS = 0.2
WORK_POLL_SECONDS = 0.02  # an idle worker's look for queued jobs


class _SQLiteTx:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def one(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        cursor = self.conn.execute(sql, args)
        try:
            row: Row | None = cursor.fetchone()
        finally:
            # An unfinished statement would keep its read snapshot open, and this connection
            # would not see the commits of others (a waiter would wait for ever).
            cursor.close()
        return row

    def all(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        return self.conn.execute(sql, args).fetchall()

    def run(self, sql: str, args: Sequence[Any] = ()) -> int:
        return self.conn.execute(sql, args).rowcount

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)

    def notify(self, channel: str, payload: str) -> None:
        return None  # waiters look at the file

    def lock_workspace(self, workspace: str) -> None:
        return None  # BEGIN IMMEDIATE: writers already take turns

    def lock_queue(self, queue: str) -> None:
        return None  # as above


class SQLiteDialect:
    """One SQLite file (WAL, short BEGIN IMMEDIATE transactions), safe to use from several
    threads of one process."""

    for_update = ""
    skip_locked = ""
    insert_order = "rowid"

    def __init__(self, path: Path):
        self.path = path
        self.conn = connect(path)
        self._tx = _SQLiteTx(self.conn)
        self._lock = threading.RLock()
        self._sync_full = False

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

    def transact(
        self,
        body: Callable[[Tx], T],
        *,
        write: bool = False,
        durable: bool = False,
        landed: Landed | None = None,  # a local file: a commit always gets its answer
    ) -> T:
        with self._lock:
            if not write:
                return body(self._tx)
            if durable != self._sync_full:
                self.conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
                self._sync_full = durable
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                result = body(self._tx)
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
            return result

    def events_index(self, sql: str) -> str:
        # The planner took the primary key once `events` had 7 columns: name the index.
        return sql.replace(" FROM events ", " FROM events INDEXED BY events_type ", 1)

    def wait_for_events(
        self,
        job_id: str,
        after_seq: int,
        timeout: float,
        last_seq: Callable[[float | None], int],
    ) -> None:
        deadline = time.monotonic() + timeout
        while last_seq(None) <= after_seq and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(POLL_SECONDS, left))

    def wait_for_work(
        self, queues: Sequence[str], timeout: float, claimable: Callable[[], bool]
    ) -> bool:
        # A file on this machine: a look is a cheap read, so look often rather than sleep long.
        deadline = time.monotonic() + timeout
        while not claimable():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(WORK_POLL_SECONDS, left))
        return True

    def reopen(self, *, retry_for: float | None = None) -> SQLiteDialect:
        return SQLiteDialect(self.path)

    def compact(self) -> None:
        import sqlite_utils

        sqlite_utils.Database(self.conn).vacuum()

    def close(self) -> None:
        self.conn.close()


class SQLiteStore(SqlStore):
    """The `Store` on one SQLite file."""

    dialect: SQLiteDialect

    def __init__(self, path: Path):
        super().__init__(SQLiteDialect(path))

    @property
    def path(self) -> Path:
        return self.dialect.path

    @property
    def conn(self) -> sqlite3.Connection:
        return self.dialect.conn


def _conforms(store: SQLiteStore, dialect: SQLiteDialect) -> tuple[Store, Dialect]:
    return store, dialect  # mypy checks here that SQLiteStore is a Store, and the dialect
