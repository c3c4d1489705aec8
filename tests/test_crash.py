"""Crash tests: SIGKILL agentctl at named points, resume, and check every effect happened once.

agentctl runs in a subprocess (tests/crash_harness.py) against a scripted OpenAI-compatible
server on 127.0.0.1, so litellm's real request path runs. The server answers by turn, so a
turn asked again after a crash gets the same answer.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import agentctl as run_agentctl
from conftest import start_agentctl
from fakeserver import ScriptedOpenAIServer

# Slow and end to end: each test runs and SIGKILLs agentctl in subprocesses.
pytestmark = [pytest.mark.slow, pytest.mark.e2e]

SCRIPT = [
    {"tool_calls": [{"name": "shell", "arguments": {"command": "echo agent1 >> effects.log"}}]},
    {"tool_calls": [{"name": "read_file", "arguments": {"path": "effects.log"}}]},
    {"tool_calls": [{"name": "shell", "arguments": {"command": "echo agent2 >> effects.log"}}]},
    {"content": "all done"},
]
EXPECTED = ["prep", "agent1", "agent2", "finish"]

RECIPE = """
version: 1
name: crashy
models:
  default: {{model: openai/fake-model, api_base: "{base}", api_key_env: FAKE_KEY}}
steps:
  - id: prep
    run: echo prep >> effects.log
  - id: work
    agent:
      instructions: Write two lines.
      tools: [shell, read_file]
  - id: finish
    run: echo finish >> effects.log
"""


@pytest.fixture(scope="module")
def server():
    with ScriptedOpenAIServer(SCRIPT, by_turn=True) as srv:
        yield srv


def agentctl(
    args, *, db: Path | str, crash: str | None = None, cwd: Path
) -> subprocess.CompletedProcess:
    return run_agentctl(args, db, cwd, crash=crash, FAKE_KEY="sk-test-crash")


def status(db: Path | str, cwd: Path) -> dict:
    done = agentctl(["status", "last", "--json"], db=db, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# (when, event type, which occurrence, what a person answers if asked to re-run an action)
# The appends that hold action_started, in order: prep's run, agent1, read_file, agent2,
# finish's run. "after action_started" kills between the commit and the tool: the action never
# ran, so approving its re-run is right. "before action_finished" kills after the tool ran:
# the effect happened, so the person denies the re-run and the model is told.
CRASH_POINTS = [
    ("after", "job_created", 1, None),
    ("after", "runner_started", 1, None),
    ("after", "step_started", 1, None),
    ("after", "action_started", 1, "approve"),
    ("before", "model_response", 1, None),
    ("after", "model_response", 2, None),
    ("after", "action_started", 2, "approve"),
    ("before", "action_finished", 2, "deny"),
    ("after", "action_started", 3, None),  # read_file: read-only, re-runs by itself
    ("before", "action_finished", 3, None),
    ("after", "action_finished", 4, None),
    ("after", "step_finished", 2, None),
    ("before", "job_succeeded", 1, None),
]


@pytest.mark.timeout(300)  # five agentctl processes; on a loaded machine, minutes
@pytest.mark.parametrize(
    "when,event,nth,answer", CRASH_POINTS, ids=[f"{w}-{e}-{n}" for w, e, n, _ in CRASH_POINTS]
)
def test_sigkill_then_resume_runs_every_effect_once(
    tmp_path, server, db_target, when, event, nth, answer
):
    """On each backend (the same harness on SQLite and on PostgreSQL)."""
    ws = tmp_path / "ws"
    ws.mkdir()
    db = db_target
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE.format(base=server.base_url))
    crashed = agentctl(
        ["run", str(recipe), "--workspace", str(ws), "--non-interactive"],
        db=db,
        crash=f"{when}:{event}:{nth}",
        cwd=tmp_path,
    )
    assert crashed.returncode == -9, (crashed.returncode, crashed.stderr)
    killed = status(db, tmp_path)
    assert killed["state"] == "interrupted"  # the dead runner is noticed at once
    # Its steps say so too: the step it died in is interrupted, not running.
    assert "running" not in [s["state"] for s in killed["steps"]], killed["steps"]

    asked = 0
    for _ in range(4):
        resumed = agentctl(["resume", "last", "--non-interactive", "--json"], db=db, cwd=tmp_path)
        if resumed.returncode != 3:
            break
        asked += 1
        pending = json.loads(resumed.stdout)["pending_approvals"]
        assert len(pending) == 1 and "uncertain" in pending[0]["reason"]
        assert answer is not None, f"unexpected approval: {pending}"
        decided = agentctl([answer, "last", pending[0]["request"]], db=db, cwd=tmp_path)
        assert decided.returncode == 0, decided.stderr
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["state"] == "succeeded"
    assert asked == (1 if answer else 0)
    assert (ws / "effects.log").read_text().split() == EXPECTED


def test_two_resumes_at_once_one_runs_the_other_names_the_holder(tmp_path, server):
    ws = tmp_path / "ws"
    ws.mkdir()
    db = tmp_path / "agentctl.db"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("version: 1\nname: slow\nsteps:\n  - id: a\n    run: sleep 3\n")
    first = agentctl(
        ["run", str(recipe), "--workspace", str(ws), "--non-interactive"],
        db=db,
        crash="after:job_created:1",
        cwd=tmp_path,
    )
    assert first.returncode == -9
    procs = [
        start_agentctl(["resume", "last", "--non-interactive"], db, tmp_path) for _ in range(2)
    ]
    results = [p.communicate(timeout=60) + (p.returncode,) for p in procs]
    codes = sorted(r[2] for r in results)
    assert codes == [0, 2], results
    loser = next(r for r in results if r[2] == 2)
    assert "already being run by pid" in loser[1] and "hint:" in loser[1]
    winner_pid = next(p.pid for p, r in zip(procs, results) if r[2] == 0)
    assert f"pid {winner_pid}" in loser[1]


def test_six_jobs_writing_one_database_at_once(tmp_path):
    db = tmp_path / "agentctl.db"
    recipe = tmp_path / "recipe.yaml"
    steps = "".join(f"  - id: s{i}\n    run: echo {i}\n" for i in range(25))
    recipe.write_text(f"version: 1\nname: busy\nsteps:\n{steps}")
    procs = []
    for n in range(6):
        ws = tmp_path / f"ws{n}"
        ws.mkdir()
        argv = ["run", str(recipe), "--workspace", str(ws), "--non-interactive", "--json"]
        procs.append(start_agentctl(argv, db, tmp_path))
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err
        assert "locked" not in err
        assert json.loads(out)["state"] == "succeeded"
    listed = agentctl(["jobs", "--json"], db=db, cwd=tmp_path)
    assert [j["state"] for j in json.loads(listed.stdout)] == ["succeeded"] * 6
