"""The SQLite connection: WAL, busy timeout, a private file, migrations (store/schema.py).
Transactions on it are the SQLite dialect's (store/sqlite.py)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from agentctl.store.base import StoreError
from agentctl.store.schema import sqlite_migrations

BUSY_TIMEOUT_MS = 30_000


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating and migrating as needed) the database at `path`."""
    if str(path) != ":memory:":
        try:
            _create_private(path)
        except OSError as exc:
            raise StoreError(
                f"cannot create the folder for the database {path}: {exc.strerror}",
                "pass --db PATH or set AGENTCTL_DB to a writable location",
            ) from exc
    try:
        conn = sqlite3.connect(
            str(path),
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        _migrate(conn)
    except sqlite3.DatabaseError as exc:
        raise StoreError(
            f"cannot open the database {path}: {exc}",
            "check the file is an agentctl database, or pass --db PATH to use another",
            exit_code=2,  # the file given is not one: bad input
        ) from exc
    if mode.lower() != "wal" and str(path) != ":memory:":
        raise StoreError(
            f"the database {path} could not switch to WAL mode (got {mode})",
            "put the database on a local file system (not NFS), e.g. with --db PATH",
        )
    return conn


def _create_private(path: Path) -> None:
    """A new database is readable by its owner only: the file 0600 (SQLite gives its -wal and
    -shm files the same mode) in a folder made 0700. Existing ones are left as they are."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    except FileExistsError:
        pass


def _migrate(conn: sqlite3.Connection) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    migrations = sqlite_migrations()
    if version >= len(migrations):
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Read again under the write lock: another process may have migrated meanwhile.
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for number in range(version, len(migrations)):
            migration = migrations[number]
            if isinstance(migration, str):
                for statement in _split_statements(migration):
                    conn.execute(statement)
            else:
                import sqlite_utils  # only when migrating: it costs start-up time

                migration(sqlite_utils.Database(conn))
            conn.execute(f"PRAGMA user_version = {number + 1}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _split_statements(script: str) -> list[str]:
    # executescript() would COMMIT our transaction; split on complete statements instead.
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current.strip())
            current = ""
    if current.strip():
        statements.append(current.strip())
    return statements
