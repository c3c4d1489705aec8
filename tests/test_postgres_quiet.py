"""What a PostgreSQL store leaves out when nobody needs it (issue 25): opening a database
whose schema is up to date takes no lock (every job a warm worker forks opens one)."""

from __future__ import annotations

import threading

import psycopg

from agentctl.store import open_store


def test_opening_an_up_to_date_database_takes_no_migration_lock(postgres_url):
    open_store(postgres_url).close()  # migrated once
    with psycopg.connect(postgres_url) as holder:  # another opener, migrating: it holds the lock
        holder.execute("SELECT pg_advisory_xact_lock(hashtext('agentctl-migrate'))")
        opened: list[bool] = []

        def open_one() -> None:
            open_store(postgres_url).close()
            opened.append(True)

        thread = threading.Thread(target=open_one, daemon=True)
        thread.start()
        thread.join(timeout=30)  # a hang detector: waiting for the lock would not end here
        assert opened == [True]
