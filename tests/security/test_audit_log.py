"""Issue 21, case 10: the audit log is evidence. Every event carries a hash chained to the one
before it in its job, `agentctl log JOB --verify` names the first event that was changed or
removed (on both backends), and the approver is the operating-system account that ran
`approve`, whatever the environment says."""

from __future__ import annotations

import json
import os
import pwd

import pytest
from conftest import invoke
from test_store import make, raw

from agentctl.store import NewEvent, open_store

NOW = 1_800_000_000.0
LONG = "x" * 5000  # stored once, in `blobs`, by content hash


@pytest.fixture(params=["sqlite", "postgres"])
def db_target(request, tmp_path) -> str:
    """As conftest's, but PostgreSQL only where psycopg is installed: CI also runs this folder
    as an unprivileged user from a venv without the postgres extra."""
    if request.param == "sqlite":
        return str(tmp_path / "store.db")
    pytest.importorskip("psycopg")
    return request.getfixturevalue("postgres_url")


def _job_with_events(target: str, job_id: str = "job1") -> None:
    store = open_store(target)
    make(store, job_id)
    for n in range(2, 7):
        store.append_events(
            job_id,
            [NewEvent("step_started", f"s{n}", {"n": n, "text": LONG if n == 5 else "short"})],
            now=NOW + n,
        )
    store.close()


def _verify(target: str, job_id: str = "job1", *extra: str):
    return invoke("--db", target, "log", job_id, "--verify", *extra)


def _unprotect(target: str) -> None:
    """What someone with write access to the database does first: the append-only trigger
    refuses UPDATE, so it goes."""
    raw(target, "DROP TRIGGER events_append_only" + (" ON events" if "://" in target else ""))


def test_an_intact_log_verifies(db_target):
    _job_with_events(db_target)
    result = _verify(db_target)
    assert result.exit_code == 0, result.stderr
    assert "6 events" in result.stdout and "intact" in result.stdout
    hashes = raw(db_target, "SELECT seq, hash FROM events WHERE job_id = 'job1' ORDER BY seq")
    assert [seq for seq, _ in hashes] == [1, 2, 3, 4, 5, 6]
    assert all(h and len(h) == 64 for _, h in hashes)
    assert len({h for _, h in hashes}) == 6
    as_json = _verify(db_target, "job1", "--json")
    assert as_json.exit_code == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert report["intact"] is True and report["events"] == 6 and report["head"] == hashes[-1][1]


def test_an_event_changed_with_raw_sql_is_named(db_target):
    _job_with_events(db_target)
    _unprotect(db_target)
    raw(db_target, """UPDATE events SET data = '{"n":99,"text":"short"}' WHERE seq = 3""")
    result = _verify(db_target)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "error: " in result.stderr and "event 3" in result.stderr
    assert "changed" in result.stderr
    as_json = json.loads(_verify(db_target, "job1", "--json").stdout)
    assert as_json["intact"] is False
    assert as_json["problem"]["seq"] == 3 and as_json["problem"]["what"] == "changed"


def test_a_removed_event_is_named(db_target):
    _job_with_events(db_target)
    raw(db_target, "DELETE FROM events WHERE job_id = 'job1' AND seq = 4")
    result = _verify(db_target)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "event 4" in result.stderr and "removed" in result.stderr


def test_removing_the_last_events_is_seen_too(db_target):
    _job_with_events(db_target)
    raw(db_target, "DELETE FROM events WHERE job_id = 'job1' AND seq >= 5")
    result = _verify(db_target)
    assert result.exit_code == 1
    assert "event 5" in result.stderr and "removed" in result.stderr


def test_a_changed_blob_is_a_changed_event(db_target):
    _job_with_events(db_target)
    blob = "'" + "y" * 5000 + "'"
    data = f"convert_to({blob}, 'UTF8')" if "://" in db_target else f"CAST({blob} AS BLOB)"
    raw(db_target, f"UPDATE blobs SET data = {data} WHERE size = 5000")
    result = _verify(db_target)
    assert result.exit_code == 1
    assert "event 5" in result.stderr and "changed" in result.stderr


def test_a_hash_wiped_after_the_chain_began_is_tampering(db_target):
    _job_with_events(db_target)
    _unprotect(db_target)
    raw(db_target, "UPDATE events SET hash = NULL WHERE seq = 4")
    result = _verify(db_target)
    assert result.exit_code == 1
    assert "event 4" in result.stderr


def test_events_from_before_the_chain_are_unchained_not_tampered(db_target):
    store = open_store(db_target)
    make(store, "old")
    store.close()
    # Written by an agentctl without the chain: no hash.
    raw(db_target, "UPDATE jobs SET last_seq = 3 WHERE id = 'old'")
    _unprotect(db_target)
    raw(db_target, "UPDATE events SET hash = NULL WHERE job_id = 'old'")
    raw(
        db_target,
        "INSERT INTO events (job_id, seq, ts, type, step, data) VALUES"
        " ('old', 2, 1, 'step_started', 'a', '{}'), ('old', 3, 1, 'step_finished', 'a', '{}')",
    )
    store = open_store(db_target)
    store.append_events("old", [NewEvent("step_started", "b", {})], now=NOW)
    store.append_events("old", [NewEvent("step_finished", "b", {})], now=NOW + 1)
    store.close()
    result = _verify(db_target, "old")
    assert result.exit_code == 0, result.stderr
    assert "3 events written before" in result.stdout and "unchained" in result.stdout
    # The chain that began after them still holds them to it: an edit there is seen.
    raw(db_target, "UPDATE events SET data = '{\"x\":1}' WHERE job_id = 'old' AND seq = 5")
    assert _verify(db_target, "old").exit_code == 1


def test_the_approver_is_the_account_that_ran_approve(tmp_path, workspace, monkeypatch):
    from conftest import write

    recipe = write(
        tmp_path / "gate.yaml", "version: 1\nname: g\nsteps:\n  - id: a\n    approval: Ok?\n"
    )
    parked = invoke("run", str(recipe), "--workspace", str(workspace), "--json")
    assert parked.exit_code == 3, parked.stderr
    job = json.loads(parked.stdout)["id"]
    account = pwd.getpwuid(os.getuid()).pw_name
    for name in ("USER", "LOGNAME", "LNAME", "USERNAME"):
        monkeypatch.setenv(name, "the-ceo")
    approved = invoke("approve", job, "--json")
    assert approved.exit_code == 0, approved.stderr
    decided_by = json.loads(approved.stdout)["decided_by"]
    assert decided_by.startswith(f"{account} (uid {os.getuid()})"), decided_by
    assert "the-ceo" in decided_by  # kept as a note, never as the approver
    log = [json.loads(line) for line in invoke("log", job, "--json").stdout.splitlines()]
    decided = next(e for e in log if e["type"] == "approval_decided")
    assert decided["by"].startswith(f"{account} (uid")


@pytest.mark.parametrize("name", ["USER", "LOGNAME"])
def test_an_environment_that_agrees_adds_no_note(monkeypatch, name):
    from agentctl.engine.approvals import describe_decider

    account = pwd.getpwuid(os.getuid()).pw_name
    for other in ("USER", "LOGNAME", "LNAME", "USERNAME", "SUDO_USER"):
        monkeypatch.delenv(other, raising=False)
    monkeypatch.setenv(name, account)
    said = describe_decider()
    assert said.startswith(f"{account} (uid {os.getuid()}) on ") and "says" not in said
