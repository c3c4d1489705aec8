"""Issue 22, cases 10 and 11: Ctrl-C is the user's word. An action killed by Ctrl-C or
`agentctl cancel` is recorded as stopped by that person, and `resume` decides it again under
the policy instead of calling it uncertain (uncertain stays for a runner that died: see
tests/test_crash.py). A job waiting at a terminal prompt is `awaiting_approval`; a parked job
whose only approval an added policy voided says so, and what to do."""

from __future__ import annotations

import json
import os
import pwd
import signal
import time
from pathlib import Path

import pytest
from conftest import agentctl, invoke, start_agentctl, write, write_recipe

ACCOUNT = pwd.getpwuid(os.getuid()).pw_name
WAIT_FOR_GO = "until [ -f go ]; do sleep 0.1; done; echo waited >> log.txt"


def _events(db: Path, cwd: Path, job: str = "last") -> list[dict]:
    done = agentctl(["log", job, "--json"], db, cwd)
    if "no jobs yet" in done.stderr:  # the run being watched has not made its job yet
        return []
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def _wait_for_action(db: Path, cwd: Path, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not any(
        e["type"] == "action_started" and text in json.dumps(e) for e in _events(db, cwd)
    ):
        assert time.monotonic() < deadline, f"no action with {text!r} started"
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.e2e
def test_ctrl_c_stops_an_action_in_the_persons_name_and_resume_decides_it_again(
    tmp_path, workspace
):
    db = tmp_path / "a.db"
    recipe = write_recipe(tmp_path, f"  - id: wait\n    run: {WAIT_FOR_GO}\n")
    proc = start_agentctl(
        ["run", str(recipe), "--workspace", str(workspace), "--non-interactive"], db, tmp_path
    )
    _wait_for_action(db, tmp_path, "until [ -f go ]")
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    [stopped] = [e for e in _events(db, tmp_path) if e["type"] == "action_finished"]
    assert stopped["error"] == "stopped" and stopped["ok"] is False
    assert stopped["stopped_by"].startswith(f"{ACCOUNT} (uid {os.getuid()})")
    assert "Ctrl-C" in stopped["stopped_by"]
    human = agentctl(["log", "last"], db, tmp_path).stdout
    assert f"stopped by {ACCOUNT}" in human and "Ctrl-C" in human
    # No policy asks about it, so it simply runs again: nothing "uncertain" to approve.
    (workspace / "go").touch()
    resumed = agentctl(["resume", "last", "--non-interactive", "--json"], db, tmp_path)
    assert resumed.returncode == 0, (resumed.stdout, resumed.stderr)
    assert "uncertain" not in resumed.stdout + resumed.stderr
    assert (workspace / "log.txt").read_text() == "waited\n"
    assert not any(e["type"] == "approval_requested" for e in _events(db, tmp_path))


@pytest.mark.slow
@pytest.mark.e2e
def test_after_ctrl_c_a_policy_that_asks_asks_again_in_its_own_words(tmp_path, workspace):
    db = tmp_path / "a.db"
    policy = write(
        tmp_path / "asks.yaml",
        "version: 1\nname: asks\ndefault: allow\nrules:\n"
        "  - id: sleeps-need-a-person\n    tools: [shell]\n    commands: ['sleep *']\n"
        "    decision: ask\n    reason: sleeping takes a person's yes\n",
    )
    recipe = write_recipe(tmp_path, "  - id: nap\n    run: sleep 30\n")
    args = ["--workspace", str(workspace), "--policy", str(policy), "--non-interactive"]
    assert agentctl(["run", str(recipe), *args], db, tmp_path).returncode == 3
    assert agentctl(["approve", "last"], db, tmp_path).returncode == 0
    proc = start_agentctl(["resume", "last", "--non-interactive"], db, tmp_path)
    _wait_for_action(db, tmp_path, "sleep 30")
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode == 130
    parked = agentctl(["resume", "last", "--non-interactive", "--json"], db, tmp_path)
    assert parked.returncode == 3, parked.stderr
    [request] = json.loads(parked.stdout)["pending_approvals"]
    assert request["reason"] == "sleeping takes a person's yes"  # the policy, not "uncertain"
    assert [r["id"] for r in request["rules"]] == ["sleeps-need-a-person"]


@pytest.mark.slow
@pytest.mark.e2e
def test_cancel_stops_an_action_in_the_name_of_who_cancelled(tmp_path, workspace):
    db = tmp_path / "a.db"
    recipe = write_recipe(tmp_path, f"  - id: wait\n    run: {WAIT_FOR_GO}\n")
    detached = agentctl(
        ["run", str(recipe), "--workspace", str(workspace), "--detach"], db, tmp_path
    )
    assert detached.returncode == 0, detached.stderr
    _wait_for_action(db, tmp_path, "until [ -f go ]")
    cancelled = agentctl(["cancel", "last"], db, tmp_path, USER="someone-else")
    assert cancelled.returncode == 0, cancelled.stderr
    [stopped] = [e for e in _events(db, tmp_path) if e["type"] == "action_finished"]
    assert stopped["error"] == "cancelled"
    assert stopped["stopped_by"].startswith(f"{ACCOUNT} (uid {os.getuid()})")
    assert "agentctl cancel" in stopped["stopped_by"]
    requested = next(e for e in _events(db, tmp_path) if e["type"] == "cancel_requested")
    assert requested["by"].startswith(f"{ACCOUNT} (uid")


def test_a_parked_job_whose_only_approval_was_voided_says_so(tmp_path, workspace):
    asks = write(tmp_path / "asks.yaml", "version: 1\nname: asks\ndefault: ask\n")
    denies = write(
        tmp_path / "denies.yaml",
        "version: 1\nname: denies\ndefault: allow\nrules:\n"
        "  - id: no-echo\n    tools: [shell]\n    commands: ['echo *']\n    decision: deny\n",
    )
    recipe = write_recipe(tmp_path, "  - id: hi\n    run: echo hi > hi.txt\n")
    parked = invoke(
        "run", str(recipe), "--workspace", str(workspace), "--policy", str(asks), "--json"
    )
    assert parked.exit_code == 3, parked.stderr
    job = json.loads(parked.stdout)["id"]
    added = invoke("policy", "add", job, str(denies))
    assert added.exit_code == 0, added.stderr
    described = json.loads(invoke("status", job, "--json").stdout)
    assert described["pending_approvals"] == []
    assert described["state"] != "awaiting_approval"
    assert described["state"] == "interrupted"  # `resume` continues it: the action is denied
    shown = invoke("status", job).stdout
    assert "voided" in shown and f"agentctl resume {job}" in shown
    listed = json.loads(invoke("jobs", "--json").stdout)
    assert listed[0]["state"] == "interrupted"
    resumed = invoke("resume", job, "--json")
    assert not (workspace / "hi.txt").exists()
    assert json.loads(resumed.stdout)["state"] in ("failed", "succeeded")


@pytest.mark.slow
@pytest.mark.e2e
def test_a_job_waiting_at_a_terminal_prompt_is_awaiting_approval(tmp_path, workspace):
    pytest.importorskip("pexpect")
    from test_terminal import Terminal

    db = tmp_path / "a.db"
    recipe = write_recipe(
        tmp_path, "  - id: gate\n    approval: Ship it?\n  - id: after\n    run: echo ok\n"
    )
    term = Terminal(["run", str(recipe), "--workspace", str(workspace)], db, tmp_path)
    try:
        term.wait_for(r"press a to approve")
        described = json.loads(agentctl(["status", "last", "--json"], db, tmp_path).stdout)
        assert described["state"] == "awaiting_approval", described
        assert described["pending_approvals"] and described["runner"]["pid"] > 0
        assert [s["state"] for s in described["steps"]] == ["awaiting_approval", "pending"]
        listed = agentctl(["jobs", "--state", "awaiting_approval", "--json"], db, tmp_path)
        assert [j["id"] for j in json.loads(listed.stdout)] == [described["id"]]
        assert "awaiting_approval" in agentctl(["jobs"], db, tmp_path).stdout
        term.child.send("a")
        assert term.finish() == 0, term.screen
    finally:
        if term.child.isalive():
            term.child.terminate(force=True)
    assert json.loads(agentctl(["status", "last", "--json"], db, tmp_path).stdout)["state"] == (
        "succeeded"
    )
