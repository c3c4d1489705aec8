"""Job keys in the store, on every backend: a key names one job per database, and creating a
job with a key already used writes nothing and gives the job that has it."""

from __future__ import annotations

import threading

import pytest
from test_store import NOW, raw

from agentctl.store import NewEvent, Store, open_store


@pytest.fixture
def store(db_target) -> Store:
    opened = open_store(db_target)
    yield opened
    opened.close()


def create(store: Store, job_id: str, key: str | None) -> str:
    return store.create_job(
        job_id=job_id,
        recipe="r",
        recipe_path=None,
        recipe_text="version: 1",
        params={},
        options={},
        workspace="/tmp",
        now=NOW,
        event=NewEvent("job_created", None, {}),
        key=key,
    )


def test_a_key_names_one_job_and_a_second_create_returns_it(store, db_target):
    assert create(store, "first", "run-1") == "first"
    assert create(store, "second", "run-1") == "first"  # nothing written for "second"
    assert [j["id"] for j in store.list_jobs()] == ["first"]
    assert store.get_job("first")["key"] == "run-1"
    assert raw(db_target, "SELECT count(*) FROM events")[0][0] == 1
    # Jobs without a key never collide with one another.
    assert create(store, "a", None) == "a" and create(store, "b", None) == "b"
    assert store.get_job("a")["key"] is None
    assert create(store, "c", "run-2") == "c"


def test_the_database_refuses_a_second_row_with_the_same_key(store, db_target):
    create(store, "first", "k")
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        raw(
            db_target,
            "INSERT INTO jobs (id, recipe, recipe_blob, workspace, state, created_at,"
            " updated_at, key) VALUES ('x', 'r', 'b', '/tmp', 'queued', 0, 0, 'k')",
        )


def test_concurrent_creates_with_one_key_make_one_job(db_target):
    open_store(db_target).close()  # migrated once, before the race
    got: list[str] = []
    barrier = threading.Barrier(6)

    def racer(number: int) -> None:
        mine = open_store(db_target)
        try:
            barrier.wait()
            got.append(create(mine, f"job{number}", "same"))
        finally:
            mine.close()

    threads = [threading.Thread(target=racer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 6 and len(set(got)) == 1
    check = open_store(db_target)
    assert [j["id"] for j in check.list_jobs()] == got[:1]
    check.close()
