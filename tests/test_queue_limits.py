"""Per-queue limits for the whole fleet (issue 25 item 7): `agentctl queue NAME --max-running
N --max-starts N --per WHEN`, kept in the database and held by every worker's claim."""

from __future__ import annotations

import json
import threading

import pytest
from conftest import assert_bad_input, invoke
from test_store import NOW, make

from agentctl.engine.worker import limit_queue
from agentctl.store import JobUpdate, QueueLimit, Store, open_store


def _claim(store: Store, queues=("nightly",), now: float = NOW, pid: int = 1):
    return store.claim_job(list(queues), host="h", pid=pid, start="s", now=now, ttl=60)


def _finish(store: Store, claim) -> None:
    """The claimed job's runner ends it and lets go of its lease."""
    store.append_events(
        claim.job_id, [], now=NOW, token=claim.token, update=JobUpdate(set={"state": "succeeded"})
    )
    store.release_lease(claim.job_id, claim.token)


def test_at_most_n_of_a_queues_jobs_run_at_once(db_target):
    store = open_store(db_target)
    for n in range(3):
        make(store, f"n{n}", created=NOW + n, queue="nightly")
    make(store, "other", created=NOW, queue="default")
    store.set_queue_limit(QueueLimit("nightly", max_running=2))
    first, second = _claim(store), _claim(store)
    assert first is not None and second is not None
    assert _claim(store) is None  # two run: the third waits
    assert _claim(store, ["default"]) is not None  # another queue has no limit
    _finish(store, first)  # one ended: a slot is free
    third = _claim(store)
    assert third is not None and third.job_id == "n2"
    [limit] = store.queue_limits(now=NOW)
    assert (limit.max_running, limit.running) == (2, 2)
    store.close()


def test_at_most_n_starts_per_window(db_target):
    store = open_store(db_target)
    for n in range(3):
        make(store, f"n{n}", created=NOW + n, queue="nightly")
    store.set_queue_limit(QueueLimit("nightly", max_starts=2, per_seconds=60))
    for _ in range(2):
        claim = _claim(store)
        assert claim is not None
        _finish(store, claim)  # short jobs: the rate still holds
    assert _claim(store, now=NOW + 30) is None
    assert store.queue_limits(now=NOW + 30)[0].started == 2
    assert _claim(store, now=NOW + 61) is not None  # the window moved on
    store.set_queue_limit(QueueLimit("nightly"))  # no limits: the row goes
    assert store.queue_limits(now=NOW) == []
    store.close()


def test_concurrent_claimers_never_pass_the_limit_together(db_target):
    """Eight workers claim at once from a queue limited to 2 running jobs."""
    store = open_store(db_target)
    for n in range(10):
        make(store, f"n{n}", created=NOW + n, queue="nightly")
    store.set_queue_limit(QueueLimit("nightly", max_running=2))
    got: list[str] = []
    start = threading.Barrier(8)

    def worker(pid: int) -> None:
        own = store.reopen()
        try:
            start.wait()
            claim = _claim(own, pid=pid)
            if claim is not None:
                got.append(claim.job_id)
        finally:
            own.close()

    threads = [threading.Thread(target=worker, args=(pid,)) for pid in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(got) == 2, got
    store.close()


def test_limit_queue_changes_only_what_it_is_given(tmp_path):
    store = open_store(tmp_path / "a.db")
    set_ = limit_queue(store, "q", max_starts=10, now=NOW)
    assert (set_.max_running, set_.max_starts, set_.per_seconds) == (None, 10, 60.0)
    set_ = limit_queue(store, "q", max_running=3, now=NOW)
    assert (set_.max_running, set_.max_starts, set_.per_seconds) == (3, 10, 60.0)
    set_ = limit_queue(store, "q", clear=True, now=NOW)
    assert (set_.max_running, set_.max_starts) == (None, None) and store.queue_limits(now=NOW) == []


def test_the_queue_command_sets_and_shows_limits():
    set_ = invoke("queue", "nightly", "--max-running", "4", "--max-starts", "10", "--per", "1m")
    assert set_.exit_code == 0, set_.stderr
    assert set_.stdout.strip() == (
        "nightly: at most 4 running (0 now); at most 10 starts per 1m (0 in the last 1m)"
    )
    shown = json.loads(invoke("queue", "--json").stdout)
    assert shown == [
        {"queue": "nightly", "max_running": 4, "max_starts": 10, "per_seconds": 60.0,
         "running": 0, "started": 0}
    ]  # fmt: skip
    assert invoke("queue", "nightly", "--clear").stdout.strip() == "nightly: no limits"
    assert "no queue has limits" in invoke("queue").stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["nightly", "--max-running", "0"], "--max-running"),
        (["nightly", "--per", "soon", "--max-starts", "2"], "--per 'soon' is not a duration"),
        (["nightly", "--per", "1m"], "--per is the window of --max-starts"),
        (["--max-running", "2"], "name the queue"),
        (["-x"], "No such option"),
    ],
)
def test_bad_queue_limits_exit_2(args, needle):
    assert_bad_input(invoke("queue", *args), needle)
