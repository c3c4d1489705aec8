"""The store: migrations, the append-only log, blobs, job lookup, leases and fencing."""

from __future__ import annotations

import sqlite3

import pytest

from agentctl.errors import JobBusy, JobNotFound, LeaseLost, UsageError
from agentctl.store import JobUpdate, NewEvent, Store
from agentctl.store.schema import MIGRATIONS

NOW = 1_800_000_000.0


def make(store: Store, job_id: str, created: float = NOW) -> str:
    store.create_job(
        job_id=job_id,
        recipe="r",
        recipe_path=None,
        recipe_text="version: 1",
        params={},
        options={},
        workspace="/tmp",
        now=created,
        event=NewEvent("job_created", None, {}),
    )
    return job_id


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "s.db")


def test_wal_and_migrations_reopen_an_existing_database(tmp_path):
    first = Store(tmp_path / "s.db")
    make(first, "a")
    first.close()
    again = Store(tmp_path / "s.db")
    assert again.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert again.conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert again.get_job("a")["recipe"] == "r"


def test_events_are_append_only_and_numbered(store):
    make(store, "a")
    written = store.append("a", [NewEvent("x", "s", {"n": 1}), NewEvent("y", None, {})], now=NOW)
    assert [e.seq for e in written] == [2, 3]
    assert [e.type for e in store.read_events("a")] == ["job_created", "x", "y"]
    assert store.get_job("a")["last_seq"] == 3
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.conn.execute("UPDATE events SET type = 'z' WHERE job_id = 'a'")


def test_job_update_sets_and_adds_in_the_same_transaction(store):
    make(store, "a")
    store.append(
        "a",
        [NewEvent("m")],
        now=NOW + 1,
        update=JobUpdate(
            set={"state": "running", "steps": [{"id": "s", "kind": "run", "state": "running"}]},
            add={"model_calls": 1, "cost_usd": 0.25},
        ),
    )
    store.append("a", [NewEvent("m")], now=NOW + 2, update=JobUpdate(add={"cost_usd": 0.5}))
    job = store.get_job("a")
    assert job["state"] == "running" and job["steps"][0]["id"] == "s"
    assert job["model_calls"] == 1 and job["cost_usd"] == 0.75 and job["updated_at"] == NOW + 2


def test_a_failing_extra_rolls_the_append_back(store):
    make(store, "a")

    def refuse(conn):
        raise UsageError("no")

    with pytest.raises(UsageError):
        store.append("a", [NewEvent("x")], now=NOW, extra=refuse)
    assert [e.type for e in store.read_events("a")] == ["job_created"]


def test_large_strings_are_stored_once_by_content(store):
    make(store, "a")
    big = "line\n" * 2000
    store.append("a", [NewEvent("out", None, {"output": big, "nested": [{"again": big}]})], now=NOW)
    store.append("a", [NewEvent("out", None, {"output": big})], now=NOW)
    sizes = [row[0] for row in store.conn.execute("SELECT size FROM blobs")]
    assert sizes.count(len(big)) == 1
    events = store.read_events("a")
    assert events[1].data["nested"][0]["again"] == big and events[2].data["output"] == big
    raw = store.conn.execute("SELECT data FROM events WHERE seq = 3").fetchone()[0]
    assert len(raw) < 200  # the event holds a reference, not the text


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
        store.append("a", [NewEvent("late")], now=NOW + 32, token=token)
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
    store.append(
        "a",
        [NewEvent("cancel_requested")],
        now=NOW + 2,
        update=JobUpdate(set={"cancel_requested": 1}),
    )
    assert store.renew_lease("a", token, now=NOW + 3, ttl=30) is True


def test_delete_jobs_keeps_blobs_other_jobs_still_use(store):
    make(store, "a")
    make(store, "b")
    shared, own = "s" * 5000, "o" * 5000
    store.append("a", [NewEvent("out", None, {"x": shared, "y": own})], now=NOW)
    store.append("b", [NewEvent("out", None, {"x": shared})], now=NOW)
    assert store.delete_jobs(["a"]) == (1, 1)  # only a's own output goes
    assert store.read_events("b")[1].data["x"] == shared
    with pytest.raises(JobNotFound):
        store.get_job("a")


def test_finished_before_lists_only_old_finished_jobs(store):
    for job_id, state in (("old", "succeeded"), ("parked", "awaiting_approval")):
        make(store, job_id, NOW)
        store.append(job_id, [NewEvent("end")], now=NOW, update=JobUpdate(set={"state": state}))
    make(store, "new", NOW)
    store.append(
        "new", [NewEvent("end")], now=NOW + 1000, update=JobUpdate(set={"state": "failed"})
    )
    assert store.finished_before(NOW + 10) == ["old"]
