"""The PostgreSQL dialect: the same jobs, log, leases and approvals, shared by many machines.

The same guarantees as on SQLite, by other means: row locks (`FOR UPDATE`) where SQLite has one
writer at a time, so workers claim queued jobs with `FOR UPDATE SKIP LOCKED` (as DBOS does)
and two claimers never get the same job; a transaction lock per workspace orders its takers.
Commits that add events to a job send `NOTIFY` on that job's own channel while someone
watches it (a watcher marks the job, `jobs.watched_until`, and renews the mark as it waits),
so `watch` and `log --follow` wake at once and hear no other job, and a job nobody watches
takes no notify lock at commit; queueing a job notifies the work channel
idle workers LISTEN on. The connection, its retries and "did it
land" are store/pg_connection.py's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agentctl.store.base import Store, StoreError
from agentctl.store.dialect import Dialect, Landed, T, Tx
from agentctl.store.pg_connection import PgConnection, PgTx, close_quietly, hide_password
from agentctl.store.schema import postgres_migrations
from agentctl.store.sqlstore import WATCH_SECONDS, WORK_CHANNEL, SqlStore, events_channel

__all__ = ["PostgresDialect", "PostgresStore", "hide_password"]


class PostgresDialect:
    """A PostgreSQL database named by a `postgresql://` URL."""

    for_update = " FOR UPDATE"
    skip_locked = " FOR UPDATE OF jobs SKIP LOCKED"
    insert_order = "rownum"

    def __init__(self, url: str, *, retry_for: float | None = None, migrated: bool = False):
        self.db = PgConnection(url, retry_for)
        self._listener: Any = None
        self._listening: str | None = None  # the channel `_listener` listens on
        self._watched_until = 0.0  # until when we marked the job of that channel watched
        self._work_listener: Any = None
        if not migrated:  # a reopened handle: the first one brought the schema up to date
            self._migrate()

    @property
    def retry_for(self) -> float:
        return self.db.retry_for

    @property
    def location(self) -> str:
        return self.db.location

    @property
    def target(self) -> str:
        return self.db.url

    @property
    def db_file(self) -> Path | None:
        return None

    @property
    def logs_dir(self) -> Path:
        from agentctl.paths import default_state_dir

        return default_state_dir() / "logs"

    def transact(
        self,
        body: Callable[[Tx], T],
        *,
        write: bool = False,
        durable: bool = False,
        landed: Landed | None = None,
    ) -> T:
        return self.db.transact(body, write=write, durable=durable, landed=landed)

    def events_index(self, sql: str) -> str:
        return sql  # the planner finds `events_type` on its own

    def _migrate(self) -> None:
        migrations = postgres_migrations()
        if self._schema_version() == len(migrations):
            return  # up to date: one read, no lock (each job a warm worker forks opens one)

        def migrate(tx: Tx) -> None:
            tx.run("SELECT pg_advisory_xact_lock(hashtext('agentctl-migrate'))")
            tx.run("CREATE TABLE IF NOT EXISTS agentctl_schema (version INTEGER NOT NULL)")
            row = tx.one("SELECT version FROM agentctl_schema")
            version = row[0] if row else 0
            if row is None:
                tx.run("INSERT INTO agentctl_schema (version) VALUES (0)")
            for number in range(version, len(migrations)):
                tx.run(migrations[number])
                tx.run("UPDATE agentctl_schema SET version = ?", (number + 1,))

        try:
            self.transact(migrate, write=True, durable=True)
        except self.db.psycopg.Error as error:
            raise StoreError(
                f"cannot prepare the database {self.location}: {self.db.scrub(str(error)).strip()}",
                "the user in the URL needs the right to create tables in its schema",
            ) from None

    def _schema_version(self) -> int | None:
        """The schema's version, or None if it cannot be read (no table yet: `_migrate`
        then makes it, under its lock, and reports what fails)."""
        try:
            row = self.transact(lambda tx: tx.one("SELECT version FROM agentctl_schema"))
        except self.db.psycopg.Error:
            return None
        return None if row is None else int(row[0])

    # -- notifications -------------------------------------------------------------------

    def wait_for_events(
        self,
        job_id: str,
        after_seq: int,
        timeout: float,
        last_seq: Callable[[float | None], int],
    ) -> None:
        deadline = time.monotonic() + timeout
        channel = events_channel(job_id)
        try:
            self._listen_to(channel)
            # Listening first, then marking the job watched (appends notify only then) and
            # looking, in one statement: an append before the mark is counted by the look,
            # one after it notifies.
            if self._mark_and_look(last_seq, timeout) > after_seq:
                return
            while (left := deadline - time.monotonic()) > 0:
                for note in self._listener.notifies(timeout=left, stop_after=1):
                    if note.channel == channel:
                        return
        except self.db.psycopg.OperationalError:
            close_quietly(self._listener)
            self._listener = self._listening = None
            self._watched_until = 0.0
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))

    def _mark_and_look(self, last_seq: Callable[[float | None], int], timeout: float) -> int:
        """The job's last seq, marking the job watched when the mark would not last this wait
        (it is renewed well before it runs out)."""
        now = time.time()
        if self._watched_until >= now + timeout + WATCH_SECONDS / 3:
            return last_seq(None)
        mark = now + max(WATCH_SECONDS, timeout + WATCH_SECONDS / 3)
        try:
            seq = last_seq(mark)
        except self.db.psycopg.errors.InsufficientPrivilege:
            # A user who may only read: no mark, so no NOTIFY; the wait's timeout polls.
            self._watched_until = math.inf
            return last_seq(None)
        self._watched_until = mark
        return seq

    def _listen_to(self, channel: str) -> None:
        """LISTEN on the channel of the job waited for (only: a watcher of one job is not
        woken by the others'), leaving the one of the job waited for before."""
        if self._listener is None:
            self._listener = self.db.open()
        if self._listening != channel:
            if self._listening is not None:
                self._listener.execute(f'UNLISTEN "{self._listening}"')
            self._listener.execute(f'LISTEN "{channel}"')
            self._listening = channel
            self._watched_until = 0.0  # this job is not marked by us yet

    def wait_for_work(
        self, queues: Sequence[str], timeout: float, claimable: Callable[[], bool]
    ) -> bool:
        deadline = time.monotonic() + timeout
        try:
            if self._work_listener is None:
                self._work_listener = self.db.open()
                self._work_listener.execute(f"LISTEN {WORK_CHANNEL}")
                # Listening first, then looking: a job queued between the two still wakes us.
                if claimable():
                    return True
            while (left := deadline - time.monotonic()) > 0:
                for note in self._work_listener.notifies(timeout=left, stop_after=1):
                    # Another worker may have claimed it already: then it is not work.
                    if note.payload in queues and claimable():
                        return True
        except self.db.psycopg.OperationalError:
            close_quietly(self._work_listener)
            self._work_listener = None
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        return False

    def reopen(self, *, retry_for: float | None = None) -> PostgresDialect:
        return PostgresDialect(
            self.db.url, retry_for=self.retry_for if retry_for is None else retry_for, migrated=True
        )

    def compact(self) -> None:
        # Autovacuum gives deleted rows' space back to the tables on its own; VACUUM here
        # would only take locks a busy fleet does not need.
        return None

    def close(self) -> None:
        for conn in (self._listener, self._work_listener):
            close_quietly(conn)
        self.db.drop()
        self._listener = self._work_listener = self._listening = None


class PostgresStore(SqlStore):
    """The `Store` on a PostgreSQL database named by a `postgresql://` URL."""

    dialect: PostgresDialect

    def __init__(self, url: str, *, retry_for: float | None = None, migrated: bool = False):
        super().__init__(PostgresDialect(url, retry_for=retry_for, migrated=migrated))

    @property
    def retry_for(self) -> float:
        return self.dialect.retry_for


def _conforms(
    store: PostgresStore, dialect: PostgresDialect, tx: PgTx
) -> tuple[Store, Dialect, Tx]:
    return store, dialect, tx  # mypy checks here that these are what SqlStore needs
