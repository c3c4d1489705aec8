"""The SQLite schema, as an ordered list of migrations.

The schema changes only by appending a migration: a database made by an older agentctl keeps
opening, and `PRAGMA user_version` says how many migrations it has. A migration is SQL, or a
function given a sqlite-utils `Database` (whose `transform` does what SQLite's ALTER TABLE
cannot, inside the migration's transaction); prefer SQL where it can say it, because importing
sqlite-utils costs every run that creates or migrates a database ~0.1 s. The PostgreSQL schema
(`store/postgres_schema.py`) follows the same numbering.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MIGRATIONS: list[str | Callable[[Any], None]] = [
    # 1: jobs (a projection of the log, for fast listing, plus the lease), the append-only
    # event log (the source of truth), content-addressed blobs, and approvals.
    """
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        recipe TEXT NOT NULL,
        recipe_path TEXT,
        recipe_blob TEXT NOT NULL,
        params TEXT NOT NULL DEFAULT '{}',
        options TEXT NOT NULL DEFAULT '{}',
        workspace TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        last_seq INTEGER NOT NULL DEFAULT 0,
        steps TEXT NOT NULL DEFAULT '[]',
        error_type TEXT,
        error_message TEXT,
        input_tokens INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0,
        cost_usd REAL NOT NULL DEFAULT 0,
        model_calls INTEGER NOT NULL DEFAULT 0,
        tool_calls INTEGER NOT NULL DEFAULT 0,
        lease_token INTEGER NOT NULL DEFAULT 0,
        lease_pid INTEGER,
        lease_host TEXT,
        lease_start TEXT,
        lease_expires REAL,
        heartbeat_at REAL,
        cancel_requested INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX jobs_created ON jobs (created_at);
    CREATE INDEX jobs_state ON jobs (state);
    CREATE TABLE events (
        job_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        ts REAL NOT NULL,
        type TEXT NOT NULL,
        step TEXT,
        data TEXT NOT NULL,
        PRIMARY KEY (job_id, seq)
    ) WITHOUT ROWID;
    CREATE TRIGGER events_append_only BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
    CREATE TABLE blobs (
        hash TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        data BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE approvals (
        job_id TEXT NOT NULL,
        request TEXT NOT NULL,
        step TEXT,
        key TEXT NOT NULL,
        tool TEXT,
        args TEXT NOT NULL DEFAULT '{}',
        action_hash TEXT NOT NULL,
        rules TEXT NOT NULL DEFAULT '[]',
        reason TEXT NOT NULL DEFAULT '',
        state TEXT NOT NULL,
        created_at REAL NOT NULL,
        decided_at REAL,
        decided_by TEXT,
        comment TEXT,
        PRIMARY KEY (job_id, request)
    ) WITHOUT ROWID;
    """,
    # 2: `queue` names the queue a job waits in (NULL: not a worker's job); what each worker
    # saw of a job (its workspace missing there, say) for `status`. Plain SQL, the same as
    # sqlite-utils wrote here before: a new database then never imports sqlite-utils (~0.1 s).
    """
    ALTER TABLE jobs ADD COLUMN queue TEXT;
    CREATE INDEX jobs_runnable ON jobs (state, queue);
    CREATE TABLE worker_notes (
        job_id TEXT NOT NULL,
        worker TEXT NOT NULL,
        note TEXT NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (job_id, worker)
    );
    """,
    # 3: a job's events of one type (an added policy, a rollback) without reading the others:
    # the runner's heartbeat looks for added policies several times a second.
    "CREATE INDEX events_type ON events (job_id, type, seq);",
    # 4: a job's key (`run --key`): one job per key in a database; NULL for most jobs, and
    # NULLs never collide in a unique index.
    """
    ALTER TABLE jobs ADD COLUMN key TEXT;
    CREATE UNIQUE INDEX jobs_key ON jobs (key);
    """,
    # 5: fleet controls: a queued job's priority (higher first) and the time before which no
    # worker takes it; how many times a worker took it over after its runner died.
    """
    ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN not_before REAL;
    ALTER TABLE jobs ADD COLUMN takeovers INTEGER NOT NULL DEFAULT 0;
    """,
    # 6: each event's hash, chained to the one before it in its job (store/chain.py), so
    # `log --verify` finds an event changed or removed behind agentctl's back. Events written
    # before this migration keep NULL: unchained, not tampered.
    "ALTER TABLE events ADD COLUMN hash TEXT;",
    # 7: one job per workspace. `workspace_lock` is the resolved workspace a job locks (NULL:
    # `--shared-workspace`, or a job from before); `workspace_held` says its lease holder is
    # a runner holding it (not `cancel` taking the lease for a moment).
    """
    ALTER TABLE jobs ADD COLUMN workspace_lock TEXT;
    ALTER TABLE jobs ADD COLUMN workspace_held INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX jobs_workspace_lock ON jobs (workspace_lock, workspace_held);
    """,
]
