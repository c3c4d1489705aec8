"""A real terminal (pexpect, a pty): what the live screen shows, keys that approve, Ctrl-C,
and a prompt closed by `agentctl approve` from another process.

Timeouts are generous: these run agentctl in subprocesses on machines with two cores.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import agentctl_env

# Slow and end to end: each test drives agentctl in a real terminal.
pytestmark = [pytest.mark.slow, pytest.mark.e2e]

pexpect = pytest.importorskip("pexpect")

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[=>]|\r")
WAIT = 45.0


class Terminal:
    """One agentctl process on a pty, and everything it has drawn so far (codes removed)."""

    def __init__(self, args: list[str], db: Path, cwd: Path):
        env = agentctl_env(db, TERM="xterm-256color", GITHUB_ACTIONS="")
        self.child = pexpect.spawn(
            sys.executable,
            ["-m", "agentctl", *args],
            env=env,
            cwd=str(cwd),
            dimensions=(40, 120),
            encoding="utf-8",
            codec_errors="replace",
            timeout=WAIT,
        )
        self.raw = ""

    @property
    def screen(self) -> str:
        return ANSI.sub("", self.raw)

    def wait_for(self, pattern: str, timeout: float = WAIT) -> re.Match:
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.screen)
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} never showed; the screen:\n{self.screen}")
            try:
                self.raw += self.child.read_nonblocking(65536, timeout=0.2)
            except pexpect.TIMEOUT:
                pass
            except pexpect.EOF:
                if not re.search(pattern, self.screen):
                    raise AssertionError(f"exited before {pattern!r}:\n{self.screen}") from None

    def finish(self, timeout: float = WAIT) -> int:
        """Read to the end; the exit code."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.raw += self.child.read_nonblocking(65536, timeout=0.5)
            except pexpect.TIMEOUT:
                if time.monotonic() > deadline:
                    raise AssertionError(f"still running; the screen:\n{self.screen}") from None
            except pexpect.EOF:
                break
        self.child.close()
        return (
            self.child.exitstatus
            if self.child.exitstatus is not None
            else 128 + (self.child.signalstatus or 0)
        )


@pytest.fixture
def terminals():
    started: list[Terminal] = []
    yield started
    for terminal in started:
        if terminal.child.isalive():
            terminal.child.terminate(force=True)


def agentctl(args, db: Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "agentctl", *args],
        env=agentctl_env(db, GITHUB_ACTIONS=""),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def write_recipe(tmp_path: Path, steps: str) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(f"version: 1\nname: ship\nsteps:\n{steps}")
    return path


def status(db: Path, cwd: Path) -> dict:
    done = agentctl(["status", "last", "--json"], db, cwd)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_live_screen_shows_the_job_and_a_key_approves(tmp_path, workspace, terminals):
    db = tmp_path / "a.db"
    recipe = write_recipe(
        tmp_path,
        "  - id: build\n    run: sleep 1; echo built\n"
        "  - id: gate\n    approval: Ship it?\n"
        "  - id: after\n    run: echo shipped > shipped.txt\n",
    )
    term = Terminal(["run", str(recipe), "--workspace", str(workspace)], db, tmp_path)
    terminals.append(term)
    job_id = term.wait_for(r"job ([0-9a-f]{10})  ship ").group(1)  # the live header
    term.wait_for(r"\[build\] shell: sleep 1; echo built")  # the current action
    term.wait_for(r"Ship it\?")
    term.wait_for(r"press a to approve")
    term.child.send("a")
    assert term.finish() == 0, term.screen
    assert f"job {job_id} succeeded" in term.screen
    assert (workspace / "shipped.txt").read_text() == "shipped\n"
    job = status(db, tmp_path)
    assert job["id"] == job_id and job["state"] == "succeeded"


def test_ctrl_c_interrupts_with_130_and_resume_continues(tmp_path, workspace, terminals):
    db = tmp_path / "a.db"
    recipe = write_recipe(
        tmp_path,
        "  - id: wait\n    run: '[ -f go ] || sleep 30'\n"
        "  - id: after\n    run: echo after > after.txt\n",
    )
    term = Terminal(["run", str(recipe), "--workspace", str(workspace)], db, tmp_path)
    terminals.append(term)
    term.wait_for(r"\[wait\] shell: \[ -f go \] \|\| sleep 30")
    started = time.monotonic()
    term.child.sendintr()
    assert term.finish() == 130, term.screen
    assert time.monotonic() - started < 20
    assert "Traceback" not in term.screen
    assert "interrupted" in term.screen
    job = status(db, tmp_path)
    assert job["state"] == "interrupted"
    assert [s["state"] for s in job["steps"]] == ["interrupted", "pending"]
    # The person at the terminal stopped the command: recorded in their name, and decided
    # again on resume (no policy asks about it), not "uncertain".
    assert "stopped by" in agentctl(["log", "last"], db, tmp_path).stdout
    (workspace / "go").touch()
    resumed = agentctl(["resume", "last", "--non-interactive"], db, tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert (workspace / "after.txt").read_text() == "after\n"


def test_approve_from_another_process_closes_the_prompt(tmp_path, workspace, terminals):
    db = tmp_path / "a.db"
    recipe = write_recipe(
        tmp_path,
        "  - id: gate\n    approval: Deploy to prod?\n"
        "  - id: after\n    run: echo done > done.txt\n",
    )
    term = Terminal(["run", str(recipe), "--workspace", str(workspace)], db, tmp_path)
    terminals.append(term)
    term.wait_for(r"press a to approve")
    approved = agentctl(["approve", "last", "--comment", "from elsewhere"], db, tmp_path)
    assert approved.returncode == 0, approved.stderr
    term.wait_for(r"decided from another terminal")
    assert term.finish() == 0, term.screen
    assert (workspace / "done.txt").read_text() == "done\n"
    log = agentctl(["log", "last", "--json"], db, tmp_path).stdout
    decided = [
        json.loads(line)
        for line in log.splitlines()
        if json.loads(line)["type"] == "approval_decided"
    ]
    assert [d["comment"] for d in decided] == ["from elsewhere"]


def test_watch_shows_a_detached_job_and_answers_its_approval(tmp_path, workspace, terminals):
    db = tmp_path / "a.db"
    recipe = write_recipe(
        tmp_path,
        "  - id: build\n    run: sleep 2; echo built\n"
        "  - id: gate\n    approval: Ship it?\n"
        "  - id: after\n    run: echo shipped > shipped.txt\n",
    )
    detached = agentctl(
        ["run", str(recipe), "--workspace", str(workspace), "--detach", "--json"], db, tmp_path
    )
    assert detached.returncode == 0, detached.stderr
    job_id = json.loads(detached.stdout)["id"]
    term = Terminal(["watch", job_id], db, tmp_path)
    terminals.append(term)
    term.wait_for(rf"job {job_id}  ship ")
    term.wait_for(r"\[build\] shell: sleep 2; echo built")
    term.wait_for(r"press a to approve")
    term.child.send("a")
    # The detached runner waited for the decision: it goes on, and watch follows it to the end.
    assert term.finish() == 0, term.screen
    assert "agentctl resume" not in term.screen
    assert status(db, tmp_path)["state"] == "succeeded"
    assert (workspace / "shipped.txt").read_text() == "shipped\n"


def test_watch_answers_the_prompt_of_a_runner_in_another_terminal(tmp_path, workspace, terminals):
    db = tmp_path / "a.db"
    recipe = write_recipe(
        tmp_path,
        "  - id: gate\n    approval: Ship it?\n"
        "  - id: after\n    run: echo shipped > shipped.txt\n",
    )
    runner = Terminal(["run", str(recipe), "--workspace", str(workspace)], db, tmp_path)
    terminals.append(runner)
    job_id = runner.wait_for(r"job ([0-9a-f]{10})  ship ").group(1)
    runner.wait_for(r"press a to approve")
    watcher = Terminal(["watch", job_id], db, tmp_path)
    terminals.append(watcher)
    watcher.wait_for(r"press a to approve")
    watcher.child.send("a")
    assert watcher.finish() == 0, watcher.screen  # it watched the job to its end
    assert runner.finish() == 0, runner.screen
    assert "decided from another terminal" in runner.screen
    assert (workspace / "shipped.txt").read_text() == "shipped\n"


def test_a_failed_run_offers_to_roll_back_its_changes(tmp_path, workspace, terminals):
    (workspace / "notes.txt").write_text("mine\n")
    recipe = tmp_path / "fails.yaml"
    recipe.write_text(
        "version: 1\nname: fails\nsteps:\n"
        "  - id: change\n    run: echo theirs > notes.txt && touch extra.txt\n"
        "  - id: boom\n    run: exit 1\n"
    )
    terminal = Terminal(
        ["run", str(recipe), "--workspace", str(workspace)], tmp_path / "a.db", tmp_path
    )
    terminals.append(terminal)
    terminal.wait_for(r"roll these changes back\?")
    assert "notes.txt" in terminal.screen and "extra.txt" in terminal.screen
    terminal.child.send("y")
    assert terminal.finish() == 1
    assert (workspace / "notes.txt").read_text() == "mine\n"
    assert not (workspace / "extra.txt").exists()


def test_cancel_from_another_process_closes_the_prompt(tmp_path, workspace, terminals):
    db = tmp_path / "a.db"
    recipe = write_recipe(
        tmp_path,
        "  - id: gate\n    approval: Deploy to prod?\n"
        "  - id: after\n    run: echo done > done.txt\n",
    )
    term = Terminal(["run", str(recipe), "--workspace", str(workspace)], db, tmp_path)
    terminals.append(term)
    term.wait_for(r"press a to approve")
    cancelled = agentctl(["cancel", "last"], db, tmp_path)
    assert cancelled.returncode == 0, cancelled.stderr
    assert term.finish() == 4, term.screen
    assert not (workspace / "done.txt").exists()
    assert status(db, tmp_path)["state"] == "cancelled"
