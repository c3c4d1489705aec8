"""What a PostgreSQL store leaves out when nobody needs it (issue 25): opening a database
whose schema is up to date takes no lock (every job a warm worker forks opens one), and a
job's appends send NOTIFY only while someone watches the job (a NOTIFY takes a lock of the
whole cluster at commit). Observed from a LISTEN connection of the test's own."""

from __future__ import annotations

import threading
import time
import types

import psycopg
import pytest

from agentctl.store import NewEvent, open_store
from agentctl.store.sqlstore import events_channel

NOW = 1_800_000_000.0


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


def _make(store, job_id: str) -> None:
    store.create_job(
        job_id=job_id, recipe="r", recipe_path=None, recipe_text="version: 1", params={},
        options={}, workspace=f"/tmp/{job_id}", now=NOW, event=NewEvent("job_created"),
    )  # fmt: skip


def _ear(url: str, job_id: str) -> psycopg.Connection:
    """A connection listening on the job's channel, as a watcher's does."""
    ear = psycopg.connect(url, autocommit=True)
    ear.execute(f'LISTEN "{events_channel(job_id)}"')
    return ear


def _heard(ear: psycopg.Connection, wait: float) -> int:
    return len(list(ear.notifies(timeout=wait, stop_after=1)))


@pytest.fixture
def store(postgres_url):
    store = open_store(postgres_url)
    _make(store, "a")
    yield store
    store.close()


def test_appends_to_a_job_nobody_watches_notify_nobody(postgres_url, store):
    with _ear(postgres_url, "a") as ear:
        store.append_events("a", [NewEvent("x")], now=NOW)
        assert _heard(ear, 0.5) == 0


def test_appends_to_a_watched_job_notify_its_channel(postgres_url, store):
    watcher = open_store(postgres_url)
    watcher.wait_for_events("a", 1, timeout=0.01)  # `watch` waits like this: it marks the job
    with _ear(postgres_url, "a") as ear:
        store.append_events("a", [NewEvent("x")], now=NOW)
        assert _heard(ear, 10) == 1
        watcher.close()  # the mark stays until it runs out, a little after
        store.append_events("a", [NewEvent("y")], now=NOW)
        assert _heard(ear, 10) == 1


def test_a_watcher_that_starts_between_appends_sees_every_event(postgres_url, store):
    store.append_events("a", [NewEvent("before")], now=NOW)  # nobody watches: no notify
    watcher = open_store(postgres_url)
    seen: list[str] = []

    def watch() -> None:  # `watch`'s loop: wait, then read what came
        seq = 1
        while len(seen) < 2:
            watcher.wait_for_events("a", seq, timeout=60)  # a missed NOTIFY would hang here
            events = watcher.read_events("a", after_seq=seq)
            seen.extend(e.type for e in events)
            seq = events[-1].seq if events else seq

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    while not seen:  # it caught up on the append before it watched ...
        time.sleep(0.01)
        assert thread.is_alive() or seen
    store.append_events("a", [NewEvent("after")], now=NOW)  # ... and is woken by this one
    thread.join(timeout=30)
    assert not thread.is_alive() and seen == ["before", "after"]
    watcher.close()


def _later(seconds: float) -> types.SimpleNamespace:
    """The `time` module of a machine whose clock is `seconds` ahead."""
    return types.SimpleNamespace(
        time=lambda: time.time() + seconds, monotonic=time.monotonic, sleep=time.sleep
    )


def test_a_mark_runs_out_and_a_watcher_still_waiting_renews_it(postgres_url, store, monkeypatch):
    import agentctl.store.postgres as postgres
    import agentctl.store.sqlstore as sqlstore

    watcher = open_store(postgres_url)
    watcher.wait_for_events("a", 1, timeout=0.01)
    with _ear(postgres_url, "a") as ear:
        monkeypatch.setattr(sqlstore, "time", _later(sqlstore.WATCH_SECONDS + 1))
        store.append_events("a", [NewEvent("x")], now=NOW)  # the watcher went away: ran out
        assert _heard(ear, 0.5) == 0
        monkeypatch.setattr(postgres, "time", _later(sqlstore.WATCH_SECONDS + 1))
        watcher.wait_for_events("a", 2, timeout=0.01)  # still there: it marks again
        store.append_events("a", [NewEvent("y")], now=NOW)
        assert _heard(ear, 10) == 1
    watcher.close()


def test_a_watcher_who_may_only_read_still_follows_the_job(postgres_url, store):
    """A role with SELECT only cannot mark the job: it watches without notifications, by
    its poll, as before there were marks."""
    import secrets
    from urllib.parse import urlsplit, urlunsplit

    role, password = f"ro_{secrets.token_hex(4)}", secrets.token_hex(8)
    schema = psycopg.connect(postgres_url).execute("SELECT current_schema()").fetchone()[0]
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        admin.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
        admin.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}")
    parts = urlsplit(postgres_url)
    netloc = f"{role}:{password}@{parts.hostname}:{parts.port}"
    reader = open_store(urlunsplit(parts._replace(netloc=netloc)))
    try:
        reader.wait_for_events("a", 1, timeout=0.01)  # no error: it only cannot mark
        store.append_events("a", [NewEvent("x")], now=NOW)
        reader.wait_for_events("a", 1, timeout=5)
        assert [e.type for e in reader.read_events("a", after_seq=1)] == ["x"]
    finally:
        reader.close()
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")
