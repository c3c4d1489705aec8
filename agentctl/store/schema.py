"""The schema, described once, as an ordered list of migrations for both backends.

The schema changes only by appending a migration: a database made by an older agentctl keeps
opening. SQLite's `PRAGMA user_version` and PostgreSQL's `agentctl_schema.version` say how many
migrations a database has; both backends number them alike.

A migration is SQL written once with a few words for what the two dialects spell differently
(`{real}`: a float column; `{bigint}`: an integer that may pass 2^31; `{bytes}`: a blob;
`{without_rowid}`: SQLite's clustered table; `{rownum}`: PostgreSQL's insertion order, which
SQLite's rowid gives; `{append_only}`: the trigger refusing updates of the log). A migration
that one backend must spell entirely its own way sets `sqlite` or `postgres`: for SQLite, SQL
or a function given a sqlite-utils `Database` (its `transform` does what ALTER TABLE cannot,
inside the migration's transaction). Prefer SQL: importing sqlite-utils costs ~0.1 s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# For SQLite: SQL, or a function given a sqlite-utils `Database`.
SQLiteMigration = str | Callable[[Any], None]

_SQLITE_WORDS = {
    "real": "REAL",
    "bigint": "INTEGER",
    "bytes": "BLOB",
    "without_rowid": " WITHOUT ROWID",
    "rownum": "",
    "append_only": (
        "CREATE TRIGGER events_append_only BEFORE UPDATE ON events\n"
        "    BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;"
    ),
}
_POSTGRES_WORDS = {
    "real": "DOUBLE PRECISION",
    "bigint": "BIGINT",
    "bytes": "BYTEA",
    "without_rowid": "",
    "rownum": ",\n        rownum BIGSERIAL NOT NULL",
    "append_only": (
        "CREATE FUNCTION agentctl_events_append_only() RETURNS trigger LANGUAGE plpgsql AS\n"
        "    $$ BEGIN RAISE EXCEPTION 'the event log is append-only'; END $$;\n"
        "    CREATE TRIGGER events_append_only BEFORE UPDATE ON events\n"
        "    FOR EACH ROW EXECUTE FUNCTION agentctl_events_append_only();"
    ),
}


@dataclass(frozen=True)
class Migration:
    sql: str = ""
    sqlite: SQLiteMigration | None = None  # instead of `sql`, on SQLite
    postgres: str | None = None  # instead of `sql`, on PostgreSQL


MIGRATIONS: list[Migration] = [
    # 1: jobs (a projection of the log, for fast listing, plus the lease), the append-only
    # event log (the source of truth), content-addressed blobs, and approvals.
    Migration("""
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        recipe TEXT NOT NULL,
        recipe_path TEXT,
        recipe_blob TEXT NOT NULL,
        params TEXT NOT NULL DEFAULT '{{}}',
        options TEXT NOT NULL DEFAULT '{{}}',
        workspace TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at {real} NOT NULL,
        updated_at {real} NOT NULL,
        last_seq INTEGER NOT NULL DEFAULT 0,
        steps TEXT NOT NULL DEFAULT '[]',
        error_type TEXT,
        error_message TEXT,
        input_tokens {bigint} NOT NULL DEFAULT 0,
        output_tokens {bigint} NOT NULL DEFAULT 0,
        cost_usd {real} NOT NULL DEFAULT 0,
        model_calls INTEGER NOT NULL DEFAULT 0,
        tool_calls INTEGER NOT NULL DEFAULT 0,
        lease_token {bigint} NOT NULL DEFAULT 0,
        lease_pid INTEGER,
        lease_host TEXT,
        lease_start TEXT,
        lease_expires {real},
        heartbeat_at {real},
        cancel_requested INTEGER NOT NULL DEFAULT 0{rownum}
    );
    CREATE INDEX jobs_created ON jobs (created_at);
    CREATE INDEX jobs_state ON jobs (state);
    CREATE TABLE events (
        job_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        ts {real} NOT NULL,
        type TEXT NOT NULL,
        step TEXT,
        data TEXT NOT NULL,
        PRIMARY KEY (job_id, seq)
    ){without_rowid};
    {append_only}
    CREATE TABLE blobs (
        hash TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        data {bytes} NOT NULL
    ){without_rowid};
    CREATE TABLE approvals (
        job_id TEXT NOT NULL,
        request TEXT NOT NULL,
        step TEXT,
        key TEXT NOT NULL,
        tool TEXT,
        args TEXT NOT NULL DEFAULT '{{}}',
        action_hash TEXT NOT NULL,
        rules TEXT NOT NULL DEFAULT '[]',
        reason TEXT NOT NULL DEFAULT '',
        state TEXT NOT NULL,
        created_at {real} NOT NULL,
        decided_at {real},
        decided_by TEXT,
        comment TEXT,
        PRIMARY KEY (job_id, request)
    ){without_rowid};
    """),
    # 2: `queue` names the queue a job waits in (NULL: not a worker's job); what each worker
    # saw of a job (its workspace missing there, say) for `status`. Plain SQL, the same as
    # sqlite-utils wrote here before: a new database then never imports sqlite-utils (~0.1 s).
    Migration("""
    ALTER TABLE jobs ADD COLUMN queue TEXT;
    CREATE INDEX jobs_runnable ON jobs (state, queue);
    CREATE TABLE worker_notes (
        job_id TEXT NOT NULL,
        worker TEXT NOT NULL,
        note TEXT NOT NULL,
        at {real} NOT NULL,
        PRIMARY KEY (job_id, worker)
    );
    """),
    # 3: a job's events of one type (an added policy, a rollback) without reading the others:
    # the runner's heartbeat looks for added policies several times a second.
    Migration("CREATE INDEX events_type ON events (job_id, type, seq);"),
    # 4: a job's key (`run --key`): one job per key in a database; NULL for most jobs, and
    # NULLs never collide in a unique index.
    Migration("""
    ALTER TABLE jobs ADD COLUMN key TEXT;
    CREATE UNIQUE INDEX jobs_key ON jobs (key);
    """),
    # 5: fleet controls: a queued job's priority (higher first) and the time before which no
    # worker takes it; how many times a worker took it over after its runner died.
    Migration("""
    ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN not_before {real};
    ALTER TABLE jobs ADD COLUMN takeovers INTEGER NOT NULL DEFAULT 0;
    """),
    # 6: each event's hash, chained to the one before it in its job (store/chain.py), so
    # `log --verify` finds an event changed or removed behind agentctl's back. Events written
    # before this migration keep NULL: unchained, not tampered.
    Migration("ALTER TABLE events ADD COLUMN hash TEXT;"),
    # 7: one job per workspace. `workspace_lock` is the resolved workspace a job locks (NULL:
    # `--shared-workspace`, or a job from before); `workspace_held` says its lease holder is
    # a runner holding it (not `cancel` taking the lease for a moment).
    Migration("""
    ALTER TABLE jobs ADD COLUMN workspace_lock TEXT;
    ALTER TABLE jobs ADD COLUMN workspace_held INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX jobs_workspace_lock ON jobs (workspace_lock, workspace_held);
    """),
    # 8: fleet controls per queue (`agentctl queue NAME --max-running N --max-starts N --per
    # WHEN`): the limits every claim reads; when each job was last claimed (its start, for a
    # queue's rate).
    Migration("""
    CREATE TABLE queue_limits (
        queue TEXT PRIMARY KEY,
        max_running INTEGER,
        max_starts INTEGER,
        per_seconds {real}
    );
    ALTER TABLE jobs ADD COLUMN claimed_at {real};
    CREATE INDEX jobs_queue_claimed ON jobs (queue, claimed_at);
    """),
    # 9: until when someone watches the job (`watch`, `log --follow`, a runner waiting for
    # an answer): its appends notify only while this is ahead (PostgreSQL; a NOTIFY takes a
    # lock of the whole cluster at commit). Watchers renew it while they wait.
    Migration("ALTER TABLE jobs ADD COLUMN watched_until {real};"),
]


def sqlite_migrations() -> list[SQLiteMigration]:
    """The migrations in SQLite's words."""
    return [m.sqlite if m.sqlite is not None else m.sql.format(**_SQLITE_WORDS) for m in MIGRATIONS]


def postgres_migrations() -> list[str]:
    """The migrations in PostgreSQL's words."""
    return [
        m.postgres if m.postgres is not None else m.sql.format(**_POSTGRES_WORDS)
        for m in MIGRATIONS
    ]
