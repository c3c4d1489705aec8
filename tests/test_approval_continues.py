"""A detached or queued job goes on after its approval (issue 22, item 7), with real
processes: the detached runner waits for the decision (lease and heartbeat kept) and ends
cleanly on cancel or SIGTERM; an approval of a detached job whose runner is gone starts it
again; a queued job's worker picks it up once its approvals are decided."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from conftest import agentctl, start_agentctl, write_recipe
from fakeserver import ScriptedOpenAIServer

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

GATED = (
    "  - id: build\n    run: echo one >> effects.log\n"
    "  - id: gate\n    approval: Ship it?\n"
    "  - id: after\n    run: echo shipped > shipped.txt\n"
)


def status(db: Path | str, cwd: Path, job: str) -> dict:
    done = agentctl(["status", job, "--json"], db, cwd)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def events(db: Path | str, cwd: Path, job: str) -> list[dict]:
    done = agentctl(["log", job, "--json"], db, cwd)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def wait_until(check, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def detach(db: Path | str, tmp_path: Path, workspace: Path, recipe: Path, *extra: str) -> str:
    done = agentctl(
        ["run", str(recipe), "--workspace", str(workspace), "--detach", "--json", *extra],
        db,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["id"]


def pending(db: Path | str, cwd: Path, job: str) -> list[dict]:
    return status(db, cwd, job)["pending_approvals"]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def runner_pid(db: Path | str, cwd: Path, job: str) -> int:
    started = [e for e in events(db, cwd, job) if e["type"] == "runner_started"]
    return int(started[-1]["pid"])


def test_a_detached_job_goes_on_after_approve_without_resume(tmp_path, workspace, db_target):
    db = db_target
    job = detach(db, tmp_path, workspace, write_recipe(tmp_path, GATED))
    wait_until(lambda: pending(db, tmp_path, job), "the gate's request")
    pid = runner_pid(db, tmp_path, job)
    assert pid_alive(pid)  # it waits for the decision, holding the job
    held = agentctl(["resume", job], db, tmp_path)
    assert held.returncode == 2 and str(pid) in held.stderr  # one runner per job
    approved = agentctl(["approve", job], db, tmp_path)
    assert approved.returncode == 0, approved.stderr
    assert f"pid {pid}" in approved.stdout and "resume" not in approved.stdout
    wait_until(lambda: status(db, tmp_path, job)["state"] == "succeeded", "the job to finish")
    assert (workspace / "shipped.txt").read_text() == "shipped\n"
    assert (workspace / "effects.log").read_text() == "one\n"
    assert len([e for e in events(db, tmp_path, job) if e["type"] == "runner_started"]) == 1
    wait_until(lambda: not pid_alive(pid), "the runner to exit", timeout=15)


def test_a_waiting_detached_job_ends_cancelled_on_cancel(tmp_path, workspace):
    db = tmp_path / "a.db"
    job = detach(db, tmp_path, workspace, write_recipe(tmp_path, GATED))
    wait_until(lambda: pending(db, tmp_path, job), "the gate's request")
    pid = runner_pid(db, tmp_path, job)
    started = time.monotonic()
    cancelled = agentctl(["cancel", job], db, tmp_path)
    assert cancelled.returncode == 0, cancelled.stderr
    assert status(db, tmp_path, job)["state"] == "cancelled"
    assert time.monotonic() - started < 10
    wait_until(lambda: not pid_alive(pid), "the runner to exit", timeout=15)
    assert not (workspace / "shipped.txt").exists()


def test_sigterm_leaves_it_interrupted_and_an_approval_starts_it_again(
    tmp_path, workspace, db_target
):
    db = db_target
    job = detach(db, tmp_path, workspace, write_recipe(tmp_path, GATED))
    wait_until(lambda: pending(db, tmp_path, job), "the gate's request")
    pid = runner_pid(db, tmp_path, job)
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not pid_alive(pid), "the runner to exit", timeout=15)
    assert status(db, tmp_path, job)["state"] == "interrupted"
    # Nobody holds the job: the approval starts a runner in the background again.
    approved = agentctl(["approve", job], db, tmp_path)
    assert approved.returncode == 0, approved.stderr
    assert "in the background" in approved.stdout
    wait_until(lambda: status(db, tmp_path, job)["state"] == "succeeded", "the job to finish")
    assert (workspace / "shipped.txt").read_text() == "shipped\n"
    assert (workspace / "effects.log").read_text() == "one\n"  # nothing done twice
    runners = [e for e in events(db, tmp_path, job) if e["type"] == "runner_started"]
    assert len(runners) == 2 and runners[-1]["pid"] != pid


def test_a_foreground_run_that_parked_still_waits_for_resume(tmp_path, workspace):
    db = tmp_path / "a.db"
    recipe = write_recipe(tmp_path, GATED)
    parked = agentctl(["run", str(recipe), "--workspace", str(workspace)], db, tmp_path)
    assert parked.returncode == 3, parked.stderr
    approved = agentctl(["approve", "last"], db, tmp_path)
    assert approved.returncode == 0, approved.stderr
    assert "agentctl resume" in approved.stdout  # the pipeline that ran it goes on with it
    time.sleep(1.0)
    assert status(db, tmp_path, "last")["state"] == "awaiting_approval"
    assert not (workspace / "shipped.txt").exists()


def test_a_queued_job_is_picked_up_by_the_running_worker_after_approve(
    tmp_path, workspace, db_target
):
    db = db_target
    recipe = write_recipe(tmp_path, GATED)
    queued = agentctl(
        ["run", str(recipe), "--workspace", str(workspace), "--queue", "--json"], db, tmp_path
    )
    assert queued.returncode == 0, queued.stderr
    job = json.loads(queued.stdout)["id"]
    worker = start_agentctl(["worker", "--lease", "5"], db, tmp_path)
    try:
        wait_until(lambda: pending(db, tmp_path, job), "the gate's request")
        wait_until(
            lambda: status(db, tmp_path, job)["state"] == "awaiting_approval",
            "the worker's runner to park the job",
        )
        approved = agentctl(["approve", job], db, tmp_path)
        assert approved.returncode == 0, approved.stderr
        assert "worker" in approved.stdout and "resume" not in approved.stdout
        wait_until(lambda: status(db, tmp_path, job)["state"] == "succeeded", "the worker")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=30)
    assert (workspace / "shipped.txt").read_text() == "shipped\n"
    assert (workspace / "effects.log").read_text() == "one\n"


AGENT = """version: 1
name: batch
models:
  default: {{model: openai/fake-model, api_base: "{base}", api_key_env: FAKE_KEY}}
policy: {policy}
steps:
  - id: work
    agent:
      instructions: Write the notes.
      tools: [write_file, read_file]
"""
ASKS = "version: 1\nname: asks\ndefault: ask\nsandbox: off\nrules: []\n"
TURN = {
    "tool_calls": [
        {"name": "write_file", "arguments": {"path": "a.txt", "content": "A"}},
        {"name": "write_file", "arguments": {"path": "b.txt", "content": "B"}},
    ]
}


def test_a_detached_agent_turn_waits_once_and_approve_all_lets_it_finish(tmp_path, workspace):
    db = tmp_path / "a.db"
    policy = tmp_path / "asks.yaml"
    policy.write_text(ASKS)
    with ScriptedOpenAIServer([TURN, {"content": "Wrote both."}]) as server:
        recipe = tmp_path / "batch.yaml"
        recipe.write_text(AGENT.format(base=server.base_url, policy=policy))
        done = agentctl(
            ["run", str(recipe), "--workspace", str(workspace), "--detach", "--json"],
            db,
            tmp_path,
            FAKE_KEY="sk-fake-0123456789abcdef",
        )
        assert done.returncode == 0, done.stderr
        job = json.loads(done.stdout)["id"]
        asked = wait_until(
            lambda: len(pending(db, tmp_path, job)) == 2 and pending(db, tmp_path, job),
            "both requests of the turn",
        )
        assert [p["args"]["path"] for p in asked] == ["a.txt", "b.txt"]
        approved = agentctl(["approve", job, "--all"], db, tmp_path)
        assert approved.returncode == 0, approved.stderr
        wait_until(lambda: status(db, tmp_path, job)["state"] == "succeeded", "the job")
    assert (workspace / "a.txt").read_text() == "A" and (workspace / "b.txt").read_text() == "B"
    kinds = [e["type"] for e in events(db, tmp_path, job)]
    assert kinds.count("runner_started") == 1 and "job_paused" not in kinds


def test_watch_approves_a_detached_turn_with_A_and_follows_it_to_the_end(
    tmp_path, workspace, monkeypatch
):
    pytest.importorskip("pexpect")
    from test_terminal import Terminal

    db = tmp_path / "a.db"
    policy = tmp_path / "asks.yaml"
    policy.write_text(ASKS)
    monkeypatch.setenv("FAKE_KEY", "sk-fake-0123456789abcdef")
    with ScriptedOpenAIServer([TURN, {"content": "Wrote both."}]) as server:
        recipe = tmp_path / "batch.yaml"
        recipe.write_text(AGENT.format(base=server.base_url, policy=policy))
        job = detach(db, tmp_path, workspace, recipe)
        wait_until(lambda: len(pending(db, tmp_path, job)) == 2, "both requests of the turn")
        term = Terminal(["watch", job], db, tmp_path)
        try:
            term.wait_for(r"A to approve all 2 of this turn")
            term.child.send("A")
            term.wait_for(r"approve all 2 \((r\d+), (r\d+)\)\?")
            term.child.send("y")
            assert term.finish() == 0, term.screen
        finally:
            if term.child.isalive():
                term.child.terminate(force=True)
    assert status(db, tmp_path, job)["state"] == "succeeded"
    assert (workspace / "a.txt").read_text() == "A" and (workspace / "b.txt").read_text() == "B"
    decided = [e for e in events(db, tmp_path, job) if e["type"] == "approval_decided"]
    assert len(decided) == 2 and all("agentctl watch" in e["by"] for e in decided)
