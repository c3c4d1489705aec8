"""The store, through its interface, on every backend: the append-only log, blobs, job lookup,
leases and fencing, approvals, queues. Backend-only facts (WAL, migrations of old files, the
hidden password) are at the end."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from agentctl.errors import JobBusy, JobNotFound, LeaseLost, UsageError
from agentctl.store import (
    ApprovalConflict,
    ApprovalTransition,
    JobUpdate,
    NewApproval,
    NewEvent,
    Store,
    StoreError,
    open_store,
)
from agentctl.store.schema import postgres_migrations, sqlite_migrations

NOW = 1_800_000_000.0
MIGRATIONS = sqlite_migrations()


def make(store: Store, job_id: str, created: float = NOW, queue: str | None = None) -> str:
    store.create_job(
        job_id=job_id,
        recipe="r",
        recipe_path=None,
        recipe_text="version: 1",
        params={},
        options={},
        workspace=f"/tmp/{job_id}",  # jobs of their own folders: none waits for another
        now=created,
        event=NewEvent("job_created", None, {}),
        queue=queue,
    )
    return job_id


def raw(target: str, sql: str) -> list[tuple]:
    """SQL straight at the backend, around the store, to check what it really holds."""
    if target.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(target, autocommit=True) as conn:
            cursor = conn.execute(sql)
            return cursor.fetchall() if cursor.description else []
    conn = sqlite3.connect(target)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.commit()
        conn.close()


@pytest.fixture
def store(db_target) -> Store:
    opened = open_store(db_target)
    yield opened
    opened.close()


def claim(store: Store, *queues: str, pid: int = 1, now: float = NOW, ttl: float = 30, skip=()):
    return store.claim_job(
        list(queues) or ["default"], host="h", pid=pid, start="", now=now, ttl=ttl, skip=skip
    )


def test_reopening_keeps_the_jobs(db_target):
    first = open_store(db_target)
    make(first, "a")
    first.close()
    again = open_store(db_target)
    assert again.get_job("a")["recipe"] == "r"
    assert again.recipe_text(again.get_job("a")) == "version: 1"
    again.close()


def test_events_are_append_only_and_numbered(store, db_target):
    make(store, "a")
    written = store.append_events(
        "a", [NewEvent("x", "s", {"n": 1}), NewEvent("y", None, {})], now=NOW
    )
    assert [e.seq for e in written] == [2, 3]
    assert [e.type for e in store.read_events("a")] == ["job_created", "x", "y"]
    assert store.read_events("a", after_seq=2)[0].data == {}
    assert store.read_events("a", limit=1)[0].type == "job_created"
    assert store.get_job("a")["last_seq"] == 3
    with pytest.raises(Exception, match="append-only"):
        raw(db_target, "UPDATE events SET type = 'z' WHERE job_id = 'a'")


def test_read_events_can_ask_for_some_types_only(store):
    make(store, "a")
    store.append_events("a", [NewEvent(t, None, {"t": t}) for t in "xyzxyx"], now=NOW)
    assert [(e.seq, e.type) for e in store.read_events("a", types=["x"])] == [
        (2, "x"),
        (5, "x"),
        (7, "x"),
    ]
    assert [e.seq for e in store.read_events("a", after_seq=2, types=["x", "z"])] == [4, 5, 7]
    assert [e.data for e in store.read_events("a", after_seq=2, types=["x"], limit=1)] == [
        {"t": "x"}
    ]
    assert store.read_events("a", types=["nothing"]) == []
    assert store.read_events("a", types=[]) == []
    assert len(store.read_events("a", types=None)) == 7


def test_job_update_sets_and_adds_in_the_same_transaction(store):
    make(store, "a")
    store.append_events(
        "a",
        [NewEvent("m")],
        now=NOW + 1,
        update=JobUpdate(
            set={"state": "running", "steps": [{"id": "s", "kind": "run", "state": "running"}]},
            add={"model_calls": 1, "cost_usd": 0.25},
        ),
    )
    store.append_events("a", [NewEvent("m")], now=NOW + 2, update=JobUpdate(add={"cost_usd": 0.5}))
    job = store.get_job("a")
    assert job["state"] == "running" and job["steps"][0]["id"] == "s"
    assert job["model_calls"] == 1 and job["cost_usd"] == 0.75 and job["updated_at"] == NOW + 2


def pending(request: str = "r2") -> NewApproval:
    return NewApproval(
        request=request,
        step="s",
        key="s/k",
        tool="shell",
        args={"command": "ls"},
        action_hash="h",
        rules=[{"policy": "p", "id": "x", "decision": "ask"}],
        reason="why",
        now=NOW,
    )


def test_approvals_are_typed_changes_that_land_with_their_event(store):
    make(store, "a")
    store.append_events("a", [NewEvent("approval_requested")], now=NOW, approvals=[pending()])
    [record] = store.list_approvals("a", state="pending")
    assert record["args"] == {"command": "ls"} and record["rules"][0]["id"] == "x"
    decide = ApprovalTransition("r2", expect="pending", state="approved", now=NOW + 1, by="me")
    store.append_events("a", [NewEvent("approval_decided")], now=NOW + 1, approvals=[decide])
    [record] = store.list_approvals("a")
    assert (record["state"], record["decided_by"], record["decided_at"]) == (
        "approved",
        "me",
        NOW + 1,
    )
    # Deciding again: the transition finds it no longer pending and nothing is written.
    with pytest.raises(ApprovalConflict, match="no longer pending"):
        store.append_events("a", [NewEvent("approval_decided")], now=NOW + 2, approvals=[decide])
    assert [e.type for e in store.read_events("a")][-1] == "approval_decided"
    assert store.get_job("a")["last_seq"] == 3
    assert isinstance(ApprovalConflict("a", "r2", "pending"), UsageError)


def test_large_strings_are_stored_once_by_content(store, db_target):
    make(store, "a")
    big = "line\n" * 2000
    store.append_events(
        "a", [NewEvent("out", None, {"output": big, "nested": [{"again": big}]})], now=NOW
    )
    store.append_events("a", [NewEvent("out", None, {"output": big})], now=NOW)
    sizes = [row[0] for row in raw(db_target, "SELECT size FROM blobs")]
    assert sizes.count(len(big)) == 1
    events = store.read_events("a")
    assert events[1].data["nested"][0]["again"] == big and events[2].data["output"] == big
    [(stored,)] = raw(db_target, "SELECT data FROM events WHERE seq = 3")
    assert len(stored) < 200  # the event holds a reference, not the text


def test_find_job_by_id_prefix_and_last(store):
    make(store, "abc123", NOW)
    make(store, "abd456", NOW + 5)
    assert store.find_job("abc") == "abc123"
    assert store.find_job("last") == "abd456"
    assert store.find_job("abd456") == "abd456"
    with pytest.raises(UsageError, match="several"):
        store.find_job("ab")
    with pytest.raises(JobNotFound):
        store.find_job("zzz")
    with pytest.raises(JobNotFound):
        store.find_job("a%")  # LIKE wildcards are not a way to match everything
    assert [j["id"] for j in store.list_jobs()] == ["abd456", "abc123"]
    assert [j["id"] for j in store.list_jobs(limit=1)] == ["abd456"]


def test_lease_is_exclusive_until_the_holder_dies_or_expires(store):
    make(store, "a")
    alive = {"pid": True}

    def is_alive(pid, start):
        return alive["pid"]

    token = store.acquire_lease(
        "a", host="h1", pid=10, start="s", now=NOW, ttl=30, is_alive=is_alive
    )
    with pytest.raises(JobBusy, match="pid 10 on h1"):
        store.acquire_lease("a", host="h1", pid=11, start="t", now=NOW, ttl=30, is_alive=is_alive)
    # Another host cannot see our pids: only expiry frees the lease for it.
    with pytest.raises(JobBusy):
        store.acquire_lease(
            "a", host="h2", pid=12, start="", now=NOW + 29, ttl=30, is_alive=is_alive
        )
    taken = store.acquire_lease(
        "a", host="h2", pid=12, start="", now=NOW + 31, ttl=30, is_alive=is_alive
    )
    assert taken == token + 1
    with pytest.raises(LeaseLost):
        store.renew_lease("a", token, now=NOW + 32, ttl=30)
    with pytest.raises(LeaseLost):
        store.append_events("a", [NewEvent("late")], now=NOW + 32, token=token)
    assert [e.type for e in store.read_events("a")] == ["job_created"]
    # On the holder's own host a dead pid frees the lease at once, expiry or not.
    alive["pid"] = False
    store.acquire_lease("a", host="h2", pid=13, start="", now=NOW + 33, ttl=30, is_alive=is_alive)


def test_renew_reports_a_cancel_request(store):
    make(store, "a")
    token = store.acquire_lease(
        "a", host="h", pid=1, start="", now=NOW, ttl=30, is_alive=lambda p, s: True
    )
    assert store.renew_lease("a", token, now=NOW + 1, ttl=30) is False
    assert store.cancel_requested("a") is False
    store.append_events(
        "a",
        [NewEvent("cancel_requested")],
        now=NOW + 2,
        update=JobUpdate(set={"cancel_requested": 1}),
    )
    assert store.renew_lease("a", token, now=NOW + 3, ttl=30) is True
    assert store.cancel_requested("a") is True
    store.release_lease("a", token)
    assert store.get_job("a")["lease_pid"] is None


def test_delete_jobs_keeps_blobs_other_jobs_still_use(store):
    make(store, "a")
    make(store, "b")
    shared, own = "s" * 5000, "o" * 5000
    store.append_events("a", [NewEvent("out", None, {"x": shared, "y": own})], now=NOW)
    store.append_events("b", [NewEvent("out", None, {"x": shared})], now=NOW)
    assert store.delete_jobs(["a"]) == (1, 1)  # only a's own output goes
    store.compact()
    assert store.read_events("b")[1].data["x"] == shared
    with pytest.raises(JobNotFound):
        store.get_job("a")


def test_finished_before_lists_only_old_finished_jobs(store):
    for job_id, state in (("old", "succeeded"), ("parked", "awaiting_approval")):
        make(store, job_id, NOW)
        store.append_events(
            job_id, [NewEvent("end")], now=NOW, update=JobUpdate(set={"state": state})
        )
    make(store, "new", NOW)
    store.append_events(
        "new", [NewEvent("end")], now=NOW + 1000, update=JobUpdate(set={"state": "failed"})
    )
    assert store.finished_before(NOW + 10) == ["old"]


# -- queues and workers ----------------------------------------------------------------


def test_a_queued_job_is_claimed_once_oldest_first_and_only_from_its_queue(store):
    make(store, "late", NOW + 1, queue="default")
    make(store, "early", NOW, queue="default")
    make(store, "other", NOW, queue="gpu")
    make(store, "local", NOW)  # started without --queue: no worker's business
    assert store.get_job("early")["state"] == "queued"
    assert store.get_job("local")["state"] == "interrupted"
    first = claim(store)
    assert (first.job_id, first.reason) == ("early", "queued")
    assert first.token == store.get_job("early")["lease_token"]
    assert claim(store).job_id == "late"
    assert claim(store) is None  # both held now; `gpu` is another queue
    assert claim(store, "gpu", "default").job_id == "other"


def test_skip_leaves_a_job_for_other_workers(store):
    make(store, "a", queue="default")
    assert claim(store, skip=["a"]) is None
    assert claim(store).job_id == "a"


def test_a_job_whose_approvals_are_all_answered_is_runnable_again(store):
    make(store, "a", queue="default")
    token = claim(store).token
    store.append_events(
        "a",
        [NewEvent("job_paused")],
        now=NOW,
        token=token,
        update=JobUpdate(set={"state": "awaiting_approval"}),
        approvals=[pending("r2"), pending("r3")],
    )
    store.release_lease("a", token)
    for request in ("r2", "r3"):
        assert claim(store) is None  # still a pending approval
        store.append_events(
            "a",
            [NewEvent("approval_decided")],
            now=NOW,
            approvals=[
                ApprovalTransition(request, expect="pending", state="denied", now=NOW, by="me")
            ],
        )
    assert claim(store).reason == "approved"


def test_a_running_job_is_taken_over_only_when_its_lease_expired(store):
    make(store, "a", queue="default")
    token = claim(store, ttl=30).token
    store.append_events("a", [NewEvent("runner_started")], now=NOW, token=token,
                 update=JobUpdate(set={"state": "running"}))  # fmt: skip
    assert claim(store, now=NOW + 29) is None
    taken = claim(store, now=NOW + 31, pid=2)
    assert (taken.reason, taken.token) == ("lease_expired", token + 1)
    # The old runner is fenced off: its writes and its renewals are refused.
    with pytest.raises(LeaseLost):
        store.append_events("a", [NewEvent("late")], now=NOW + 32, token=token)
    with pytest.raises(LeaseLost):
        store.adopt_lease("a", token, host="h", pid=3, start="", now=NOW + 32, ttl=30)
    store.adopt_lease("a", taken.token, host="h", pid=3, start="", now=NOW + 32, ttl=30)
    assert store.get_job("a")["lease_pid"] == 3


def test_concurrent_claimers_never_get_the_same_job(db_target):
    seed = open_store(db_target)
    for n in range(40):
        make(seed, f"j{n:02}", NOW + n, queue="default")
    got: list[list[str]] = [[] for _ in range(4)]

    def worker(slot: int) -> None:
        mine = open_store(db_target)
        try:
            while (taken := claim(mine, pid=100 + slot, ttl=3600)) is not None:
                got[slot].append(taken.job_id)
        finally:
            mine.close()

    threads = [threading.Thread(target=worker, args=(slot,)) for slot in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [job for jobs in got for job in jobs]
    assert sorted(every) == [f"j{n:02}" for n in range(40)]  # each once, none lost
    seed.close()


def test_worker_notes_say_which_worker_saw_what(store):
    make(store, "a", queue="default")
    store.note_worker("a", "w1@h1", "workspace /x is missing here", now=NOW)
    store.note_worker("a", "w1@h1", "workspace /x is still missing here", now=NOW + 1)
    store.note_worker("a", "w2@h2", "ran it", now=NOW + 2)
    assert [(n["worker"], n["note"]) for n in store.worker_notes("a")] == [
        ("w1@h1", "workspace /x is still missing here"),
        ("w2@h2", "ran it"),
    ]
    store.delete_jobs(["a"])
    assert store.worker_notes("a") == []


def test_wait_for_events_returns_when_the_job_moves_on(db_target):
    store = open_store(db_target)
    writer = open_store(db_target)
    make(store, "a")
    started = time.monotonic()
    store.wait_for_events("a", 0, timeout=5)  # already past seq 0: no wait
    assert time.monotonic() - started < 1
    timer = threading.Timer(0.3, lambda: writer.append_events("a", [NewEvent("x")], now=NOW))
    timer.start()
    started = time.monotonic()
    store.wait_for_events("a", 1, timeout=10)
    waited = time.monotonic() - started
    timer.join()
    assert 0.2 < waited < 5 and store.read_events("a", after_seq=1)[0].type == "x"
    started = time.monotonic()
    store.wait_for_events("a", 2, timeout=0.3)  # nothing comes: back after the timeout
    assert 0.25 < time.monotonic() - started < 3
    store.close()
    writer.close()


def _listening(store: Store) -> list[str]:
    """The channels the store's waiter listens on (PostgreSQL)."""
    listener = store.dialect._listener  # type: ignore[attr-defined]
    return [row[0] for row in listener.execute("SELECT pg_listening_channels()").fetchall()]


def test_a_watcher_hears_only_its_own_jobs_events(postgres_url):
    import psycopg

    store = open_store(postgres_url)
    make(store, "a")
    make(store, "b")
    watcher = open_store(postgres_url)
    watcher.wait_for_events("a", 1, timeout=0.01)  # listening from now on, as `watch` does
    channels = _listening(watcher)
    assert channels and all(len(c) < 64 for c in channels)
    with psycopg.connect(postgres_url, autocommit=True) as ear:  # hears what the watcher does
        for channel in channels:
            ear.execute(f'LISTEN "{channel}"')
        store.append_events("b", [NewEvent("x")], now=NOW)  # another job's events
        store.append_events("a", [], now=NOW, update=JobUpdate(set={"state": "running"}))
        assert list(ear.notifies(timeout=0.5, stop_after=1)) == []
        store.append_events("a", [NewEvent("x")], now=NOW)
        assert len(list(ear.notifies(timeout=5, stop_after=1))) == 1
    watcher.wait_for_events("b", 2, timeout=0.01)  # the same handle follows another job
    assert _listening(watcher) != channels and len(_listening(watcher)) == 1
    store.close()
    watcher.close()


def test_a_watcher_follows_its_job_live_among_busy_others(db_target):
    store = open_store(db_target)
    writer = open_store(db_target)
    make(store, "a")
    make(store, "b")
    store.wait_for_events("a", 1, timeout=0.01)
    stop = threading.Event()

    def busy() -> None:  # another job's runner writing all the time
        while not stop.is_set():
            writer.append_events("b", [NewEvent("noise")], now=NOW)
            time.sleep(0.01)

    other = threading.Thread(target=busy)
    other.start()
    own = open_store(db_target)
    late = threading.Timer(0.6, lambda: own.append_events("a", [NewEvent("x")], now=NOW))
    late.start()
    try:
        started = time.monotonic()
        store.wait_for_events("a", 1, timeout=10)
        waited = time.monotonic() - started
    finally:
        late.join()
        stop.set()
        other.join()
        own.close()
    assert 0.5 < waited < 5  # not before its own event, and woken by it (not the timeout)
    assert [e.type for e in store.read_events("a", after_seq=1)] == ["x"]
    store.close()
    writer.close()


# The first 12 hex digits of each migration's sha256, as each backend runs it: a database
# made by any agentctl so far ran exactly these, so a migration's text never changes (the
# one schema description in store/schema.py renders both lists).
SHIPPED = {
    "sqlite": ["a0933e99def9", "8b7a124c7f39", "67fdd73dcf1c", "96a78a377eb0", "d5bd58bbc6b4"]
    + ["1a0d6b979329", "809febcd8f5c", "348edfa6b93a", "f114bde1e3fb"],
    "postgres": ["af245123107f", "427fe641ccbe", "67fdd73dcf1c", "96a78a377eb0", "2212ba9f6b27"]
    + ["1a0d6b979329", "809febcd8f5c", "57136314a254", "194359daf887"],
}


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_shipped_migrations_never_change(backend):
    import hashlib

    rendered = sqlite_migrations() if backend == "sqlite" else postgres_migrations()
    assert all(isinstance(m, str) for m in rendered)
    digests = [hashlib.sha256(str(m).encode()).hexdigest()[:12] for m in rendered]
    assert digests[: len(SHIPPED[backend])] == SHIPPED[backend]
    assert len(sqlite_migrations()) == len(postgres_migrations())  # numbered alike


# -- SQLite only ---------------------------------------------------------------------


def test_sqlite_uses_wal_and_counts_its_migrations(tmp_path):
    from agentctl.store.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "s.db")
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert store.db_file == tmp_path / "s.db" and store.location == str(tmp_path / "s.db")


def test_a_database_from_before_queues_keeps_opening(tmp_path):
    from agentctl.store.db import _split_statements

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    assert isinstance(MIGRATIONS[0], str)
    for statement in _split_statements(MIGRATIONS[0]):
        conn.execute(statement)
    conn.execute(
        "INSERT INTO jobs (id, recipe, recipe_blob, workspace, state, created_at, updated_at)"
        " VALUES ('old', 'r', 'x', '/tmp', 'succeeded', 1, 1)"
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    store = open_store(path)
    job = store.get_job("old")
    assert job["state"] == "succeeded" and job["queue"] is None
    assert store.worker_notes("old") == []


def _queues_by_sqlite_utils(db):
    """Migration 2 as agentctl 0.1 wrote it (with sqlite-utils): databases made then have it."""
    db["jobs"].add_column("queue", str)
    db["jobs"].create_index(["state", "queue"], index_name="jobs_runnable")
    db["worker_notes"].create(
        {"job_id": str, "worker": str, "note": str, "at": float},
        pk=("job_id", "worker"),
        not_null={"job_id", "worker", "note", "at"},
    )


def _shape(conn):
    """Tables' columns (name, type, not null, pk) and indexes' columns: what queries see."""
    shape = {}
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
        cols = conn.execute(f"PRAGMA table_info([{table}])").fetchall()
        shape[table] = [(c[1], c[2].upper(), c[3], c[5]) for c in cols]
    for name, table in conn.execute(
        "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    ):
        shape[f"index {name}"] = (
            table,
            [r[2] for r in conn.execute(f"PRAGMA index_info([{name}])")],
        )
    return shape


def test_migration_2_in_sql_makes_what_sqlite_utils_made(tmp_path):
    import sqlite_utils

    from agentctl.store.db import _split_statements

    conns = []
    for name, second in (("sql", MIGRATIONS[1]), ("utils", _queues_by_sqlite_utils)):
        conn = sqlite3.connect(tmp_path / f"{name}.db")
        for statement in _split_statements(MIGRATIONS[0]):
            conn.execute(statement)
        if isinstance(second, str):
            for statement in _split_statements(second):
                conn.execute(statement)
        else:
            second(sqlite_utils.Database(conn))
        conns.append(conn)
    made, before = (_shape(c) for c in conns)
    assert made == before and "worker_notes" in made and "index jobs_runnable" in made


def test_a_new_database_is_made_without_importing_sqlite_utils(tmp_path):
    # sqlite-utils (with click, dateutil and its plugin manager) costs ~0.1 s of start-up; a
    # new database, as every first run and every bench run has, needs only SQL.
    code = (
        "import sys\n"
        "from agentctl.store import open_store\n"
        f"open_store({str(tmp_path / 'new.db')!r}).close()\n"
        "print('sqlite_utils' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_sqlite_finds_events_of_a_type_through_an_index(tmp_path):
    from agentctl.store.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "s.db")
    make(store, "a")
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    store.read_events("a", after_seq=1, types=["policy_added"])
    store.conn.set_trace_callback(None)
    [select] = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    plan = " ".join(row[-1] for row in store.conn.execute("EXPLAIN QUERY PLAN " + select))
    assert "USING INDEX events_type" in plan, plan
    store.close()


def test_a_database_from_before_the_events_type_index_gains_it(db_target):
    postgres = db_target.startswith("postgresql://")
    if postgres:
        for migration in postgres_migrations()[:2]:
            raw(db_target, migration)
        raw(db_target, "CREATE TABLE agentctl_schema (version INTEGER NOT NULL)")
        raw(db_target, "INSERT INTO agentctl_schema (version) VALUES (2)")
    else:
        from agentctl.store.db import _split_statements

        conn = sqlite3.connect(db_target)
        for migration in MIGRATIONS[:2]:
            assert isinstance(migration, str)
            for statement in _split_statements(migration):
                conn.execute(statement)
        conn.execute("PRAGMA user_version = 2")
        conn.commit()
        conn.close()
    raw(
        db_target,
        "INSERT INTO jobs (id, recipe, recipe_blob, workspace, state, created_at, updated_at,"
        " last_seq) VALUES ('old', 'r', 'x', '/tmp', 'succeeded', 1, 1, 2)",
    )
    raw(
        db_target,
        "INSERT INTO events (job_id, seq, ts, type, step, data) VALUES"
        " ('old', 1, 1, 'job_created', NULL, '{}'), ('old', 2, 1, 'policy_added', NULL, '{}')",
    )
    store = open_store(db_target)
    assert [e.seq for e in store.read_events("old", types=["policy_added"])] == [2]
    store.close()
    if postgres:
        indexes = raw(
            db_target,
            "SELECT indexname FROM pg_indexes"
            " WHERE schemaname = current_schema() AND tablename = 'events'",
        )
        version = raw(db_target, "SELECT version FROM agentctl_schema")
        assert version == [(len(postgres_migrations()),)]
    else:
        indexes = [(row[1],) for row in raw(db_target, "PRAGMA index_list(events)")]
        assert raw(db_target, "PRAGMA user_version") == [(len(MIGRATIONS),)]
    assert ("events_type",) in indexes


# -- PostgreSQL only -----------------------------------------------------------------


def test_postgres_never_shows_the_password(postgres_url):
    from urllib.parse import urlsplit

    password = urlsplit(postgres_url).password
    assert password
    store = open_store(postgres_url)
    assert password not in store.location and "***" in store.location
    assert store.db_file is None
    store.close()
    wrong = postgres_url.replace(f":{password}@", ":not-the-password@")
    with pytest.raises(StoreError) as caught:
        open_store(wrong)
    assert "not-the-password" not in str(caught.value) + caught.value.hint
    assert "password authentication failed" in str(caught.value)
