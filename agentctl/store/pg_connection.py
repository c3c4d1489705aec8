"""PostgreSQL's connection for the store: opening it, one transaction at a time on it, and
getting it back when it is lost.

A lost connection (server restart, network cut) is retried for `AGENTCTL_DB_RETRY` seconds
(default 20): a transaction that failed before COMMIT is simply run again; one whose COMMIT
got no answer is checked (did it land?) before anything is written again, so nothing is
written twice. Past the deadline: StoreUnavailable.

Durability as on SQLite: an ordinary commit uses `synchronous_commit = off` (survives a crash
of agentctl, not of the server's machine); a `durable` one waits for the server's WAL flush.

The password of the URL never leaves this module and postgres.py: `location` and every
message hide it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

from agentctl.store.base import StoreError, StoreUnavailable
from agentctl.store.dialect import Landed, Row, T, Tx

DEFAULT_RETRY_SECONDS = 20.0
CONNECT_TIMEOUT_SECONDS = 5


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


def import_psycopg() -> Any:
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

    def __init__(self, result: Any):
        super().__init__()
        self.result = result  # what the transaction's body returned, should it have landed

    def __str__(self) -> str:
        return "the connection broke while committing"


class PgTx:
    """Statements on a psycopg cursor, written with `?` placeholders."""

    def __init__(self, cursor: Any):
        self.cursor = cursor

    def _execute(self, sql: str, args: Sequence[Any]) -> None:
        if args:
            self.cursor.execute(sql.replace("%", "%%").replace("?", "%s"), args)
        else:  # no values: psycopg reads no placeholders (a migration holds several statements)
            self.cursor.execute(sql)

    def one(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        self._execute(sql, args)
        row: Row | None = self.cursor.fetchone()
        return row

    def all(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        self._execute(sql, args)
        rows: list[Row] = self.cursor.fetchall()
        return rows

    def run(self, sql: str, args: Sequence[Any] = ()) -> int:
        self._execute(sql, args)
        return int(self.cursor.rowcount)

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.cursor.executemany(sql.replace("%", "%%").replace("?", "%s"), rows)

    def notify(self, channel: str, payload: str) -> None:
        self._execute("SELECT pg_notify(?, ?)", (channel, payload))

    def lock_workspace(self, workspace: str) -> None:
        self._execute(
            "SELECT pg_advisory_xact_lock(hashtext(?))", ("agentctl-workspace:" + workspace,)
        )

    def lock_queue(self, queue: str) -> None:
        self._execute("SELECT pg_advisory_xact_lock(hashtext(?))", ("agentctl-queue:" + queue,))


class PgConnection:
    """One connection to the database at `url`, reopened as needed, shared by the threads
    of one store handle."""

    def __init__(self, url: str, retry_for: float | None):
        self.psycopg = import_psycopg()
        self.url = url
        self.location = hide_password(url)
        self._password = urlsplit(url).password or ""
        env_retry = os.environ.get("AGENTCTL_DB_RETRY")
        self.retry_for = (
            retry_for
            if retry_for is not None
            else float(env_retry)
            if env_retry
            else DEFAULT_RETRY_SECONDS
        )
        self.lost = (self.psycopg.OperationalError, self.psycopg.InterfaceError)
        self._lock = threading.RLock()
        self._conn: Any = None
        try:
            self._conn = self.open()
        except self.psycopg.Error as error:
            raise StoreError(
                f"cannot connect to the database {self.location}: {self.scrub(str(error)).strip()}",
                "check the URL in --db or AGENTCTL_DB, that the server runs, and the user's password",
            ) from None

    def scrub(self, text: str) -> str:
        text = text.replace(self.url, self.location)
        return text.replace(self._password, "***") if self._password else text

    def open(self) -> Any:
        # No session state that matters, so a pooler in transaction mode (PgBouncer) may give
        # each transaction another server connection: no server-side prepared statements
        # (psycopg prepares a statement run 5 times), and commit durability is set per
        # transaction (SET LOCAL in `transact`), never for the session.
        return self.psycopg.connect(
            self.url,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            prepare_threshold=None,
        )

    def transact(
        self,
        body: Callable[[Tx], T],
        *,
        write: bool = False,
        durable: bool = False,
        landed: Landed | None = None,
    ) -> T:
        deadline = time.monotonic() + self.retry_for
        delay = 0.1
        while True:
            try:
                return self._attempt(body, write=write, durable=durable)
            except (*self.lost, _Uncertain) as error:
                self.drop()
                if isinstance(error, _Uncertain):
                    if landed is None:
                        raise self.unavailable(error) from None
                    if self._landed(deadline, landed):
                        return cast(T, error.result)
                    continue  # it did not land: write it again
                if time.monotonic() > deadline:
                    raise self.unavailable(error) from None
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    def _attempt(self, body: Callable[[Tx], T], *, write: bool, durable: bool) -> T:
        committing = False
        with self._lock:
            conn = self._conn if self._conn is not None else self._reconnect()
            try:
                if not write:  # one round trip a statement: no BEGIN/COMMIT
                    return body(PgTx(conn.cursor()))
                with conn.transaction():
                    tx = PgTx(conn.cursor())
                    # Ordinary commits do not wait for the server's disk; a durable one
                    # (before an action that is not read-only) does.
                    tx.run(f"SET LOCAL synchronous_commit = {'on' if durable else 'off'}")
                    result = body(tx)
                    committing = True
            except self.lost:
                if committing:
                    raise _Uncertain(result) from None
                raise
            return result

    def _landed(self, deadline: float, landed: Landed) -> bool:
        """Whether an uncertain commit took effect, asking (and reconnecting) until the
        deadline; StoreUnavailable past it."""
        while True:
            try:
                with self._lock:
                    conn = self._conn if self._conn is not None else self._reconnect()
                    with conn.transaction():
                        return landed(PgTx(conn.cursor()))
            except self.lost as error:
                self.drop()
                if time.monotonic() > deadline:
                    raise self.unavailable(error) from None
                time.sleep(0.5)

    def _reconnect(self) -> Any:
        self._conn = self.open()
        return self._conn

    def drop(self) -> None:
        with self._lock:
            close_quietly(self._conn)
            self._conn = None

    def unavailable(self, error: BaseException) -> StoreUnavailable:
        detail = self.scrub(str(error)).strip() or type(error).__name__
        return StoreUnavailable(
            f"lost the connection to the database {self.location} and could not get it back"
            f" within {self.retry_for:g} s: {detail}",
            "the job stays resumable: once the database is back, `agentctl resume JOB`"
            " (or a worker) continues it",
            exit_code=130,
        )


def close_quietly(conn: Any) -> None:
    if conn is not None:
        try:
            conn.close()
        except Exception:
            pass
