"""The PostgreSQL schema, as an ordered list of migrations (numbered as SQLite's).

The same tables and columns as the SQLite schema (`store/schema.py`), in PostgreSQL's types.
`agentctl_schema.version` says how many migrations a database has; migrating takes an
advisory lock, so many workers starting at once migrate once.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: jobs (with their lease), the append-only event log, blobs, approvals.
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
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        last_seq INTEGER NOT NULL DEFAULT 0,
        steps TEXT NOT NULL DEFAULT '[]',
        error_type TEXT,
        error_message TEXT,
        input_tokens BIGINT NOT NULL DEFAULT 0,
        output_tokens BIGINT NOT NULL DEFAULT 0,
        cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
        model_calls INTEGER NOT NULL DEFAULT 0,
        tool_calls INTEGER NOT NULL DEFAULT 0,
        lease_token BIGINT NOT NULL DEFAULT 0,
        lease_pid INTEGER,
        lease_host TEXT,
        lease_start TEXT,
        lease_expires DOUBLE PRECISION,
        heartbeat_at DOUBLE PRECISION,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        rownum BIGSERIAL NOT NULL
    );
    CREATE INDEX jobs_created ON jobs (created_at);
    CREATE INDEX jobs_state ON jobs (state);
    CREATE TABLE events (
        job_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        ts DOUBLE PRECISION NOT NULL,
        type TEXT NOT NULL,
        step TEXT,
        data TEXT NOT NULL,
        PRIMARY KEY (job_id, seq)
    );
    CREATE FUNCTION agentctl_events_append_only() RETURNS trigger LANGUAGE plpgsql AS
    $$ BEGIN RAISE EXCEPTION 'the event log is append-only'; END $$;
    CREATE TRIGGER events_append_only BEFORE UPDATE ON events
    FOR EACH ROW EXECUTE FUNCTION agentctl_events_append_only();
    CREATE TABLE blobs (
        hash TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        data BYTEA NOT NULL
    );
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
        created_at DOUBLE PRECISION NOT NULL,
        decided_at DOUBLE PRECISION,
        decided_by TEXT,
        comment TEXT,
        PRIMARY KEY (job_id, request)
    );
    """,
    # 2: the queue a job waits in; what each worker saw of a job.
    """
    ALTER TABLE jobs ADD COLUMN queue TEXT;
    CREATE INDEX jobs_runnable ON jobs (state, queue);
    CREATE TABLE worker_notes (
        job_id TEXT NOT NULL,
        worker TEXT NOT NULL,
        note TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (job_id, worker)
    );
    """,
    # 3: a job's events of one type without reading the others.
    "CREATE INDEX events_type ON events (job_id, type, seq);",
    # 4: a job's key (`run --key`), unique in the database.
    """
    ALTER TABLE jobs ADD COLUMN key TEXT;
    CREATE UNIQUE INDEX jobs_key ON jobs (key);
    """,
    # 5: fleet controls: priority, not_before, takeovers after a dead runner.
    """
    ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN not_before DOUBLE PRECISION;
    ALTER TABLE jobs ADD COLUMN takeovers INTEGER NOT NULL DEFAULT 0;
    """,
    # 6: each event's hash, chained to the one before it in its job (store/chain.py).
    "ALTER TABLE events ADD COLUMN hash TEXT;",
    # 7: one job per workspace: the workspace a job locks, and whether its runner holds it.
    """
    ALTER TABLE jobs ADD COLUMN workspace_lock TEXT;
    ALTER TABLE jobs ADD COLUMN workspace_held INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX jobs_workspace_lock ON jobs (workspace_lock, workspace_held);
    """,
]
