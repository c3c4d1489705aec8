"""Time is a limit for a model call in flight (issue 22): the job's `limits.timeout`, a role's
`timeout`, `agentctl cancel` and SIGTERM each end a call that is slow, stalled or never answers.

End to end: agentctl in a subprocess, the scripted OpenAI-compatible server on 127.0.0.1 in
this process, real signals. Wall times are asserted loosely (a bound several times the
deadline), never tightly.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import agentctl, start_agentctl, write
from fakeserver import ScriptedOpenAIServer

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

KEY = "sk-fake-deadline-key-0001"

RECIPE = """
version: 1
name: slow
models:
  default:
    model: openai/fake-model
    api_base: "{base}"
    api_key_env: FAKE_KEY
{role_extra}
{limits}
steps:
  - id: ask
    agent:
      instructions: Say something.
      tools: [read_file]
"""


def recipe_for(tmp_path: Path, server: ScriptedOpenAIServer, *, limits="", role_extra="") -> Path:
    text = RECIPE.format(base=server.base_url, limits=limits, role_extra=role_extra)
    return write(tmp_path / "slow.yaml", text)


def run_json(tmp_path: Path, recipe: Path, timeout: float = 60) -> tuple[dict, float, int]:
    workspace = tmp_path / "ws"
    workspace.mkdir(exist_ok=True)
    started = time.monotonic()
    done = agentctl(
        ["run", str(recipe), "--workspace", str(workspace), "--json"],
        tmp_path / "agentctl.db",
        tmp_path,
        timeout=timeout,
        FAKE_KEY=KEY,
    )
    took = time.monotonic() - started
    assert done.stdout.strip(), done.stderr
    return json.loads(done.stdout), took, done.returncode


def wait_for_request(server: ScriptedOpenAIServer, count: int = 1, within: float = 120) -> None:
    # Generous: importing litellm alone can take half a minute on a busy shared machine.
    end = time.monotonic() + within
    while len(server.chat_requests) < count:
        assert time.monotonic() < end, "agentctl never asked the model"
        time.sleep(0.05)


def test_the_job_timeout_ends_a_reply_that_comes_too_late(tmp_path):
    # Observed: limits {timeout: 10s} with a 45 s reply ran 65 s and ended succeeded.
    with ScriptedOpenAIServer([{"delay": 30, "content": "too late"}]) as server:
        recipe = recipe_for(tmp_path, server, limits="limits: {timeout: 2s}")
        job, took, code = run_json(tmp_path, recipe)
    assert code == 1 and job["state"] == "failed", job
    assert job["error"]["type"] == "limit" and "timeout" in job["error"]["message"]
    assert took < 15, took  # the 30 s reply was not waited for (start-up included)


def test_a_reply_that_never_comes_ends_at_the_job_timeout(tmp_path):
    # Observed: a reply that never comes sat until the process was killed.
    with ScriptedOpenAIServer(exhausted={"hang": True}) as server:
        recipe = recipe_for(tmp_path, server, limits="limits: {timeout: 2s}")
        job, took, code = run_json(tmp_path, recipe)
    assert code == 1 and job["error"]["type"] == "limit", job
    assert took < 15, took


def test_a_role_timeout_bounds_each_request(tmp_path):
    # No job timeout: the role's own ends each try of a server that never answers.
    with ScriptedOpenAIServer(exhausted={"hang": True}) as server:
        recipe = recipe_for(tmp_path, server, role_extra="    timeout: 3s")
        job, took, code = run_json(tmp_path, recipe)
        tries = len(server.chat_requests)
    assert code == 1 and job["error"]["type"] == "model", job
    # One try and two retries, each ended by the role's timeout (on a busy machine the first
    # may end while litellm still sets up its client, before anything is sent).
    assert "timeout x3" in job["error"]["message"], job["error"]
    assert 1 <= tries <= 3
    assert took < 45, took  # 3 x 3 s of waiting plus 1 s + 4 s between tries


def _start(tmp_path: Path, recipe: Path) -> subprocess.Popen:
    workspace = tmp_path / "ws"
    workspace.mkdir(exist_ok=True)
    return start_agentctl(
        ["run", str(recipe), "--workspace", str(workspace)],
        tmp_path / "agentctl.db",
        tmp_path,
        FAKE_KEY=KEY,
    )


def _status(tmp_path: Path) -> dict:
    shown = agentctl(["status", "last", "--json"], tmp_path / "agentctl.db", tmp_path)
    return json.loads(shown.stdout)


def test_cancel_during_the_last_reply_ends_the_job_cancelled_at_once(tmp_path):
    # Observed: `cancel` during a 40 s reply took 15 s and the job ended succeeded.
    with ScriptedOpenAIServer([{"delay": 40, "content": "finished anyway"}]) as server:
        runner = _start(tmp_path, recipe_for(tmp_path, server))
        try:
            wait_for_request(server)
            asked = time.monotonic()
            cancelled = agentctl(["cancel", "last"], tmp_path / "agentctl.db", tmp_path)
            took = time.monotonic() - asked
            code = runner.wait(timeout=20)
        finally:
            runner.kill()
            runner.communicate()
    assert cancelled.returncode == 0, cancelled.stderr
    assert "cancelled" in cancelled.stdout, cancelled.stdout
    assert took < 14, took  # its own start-up included; not the 15 s it waits at most
    assert code == 4
    assert _status(tmp_path)["state"] == "cancelled"


def test_sigterm_during_a_reply_that_never_comes_stops_the_runner(tmp_path):
    with ScriptedOpenAIServer(exhausted={"hang": True}) as server:
        runner = _start(tmp_path, recipe_for(tmp_path, server))
        try:
            wait_for_request(server)
            signalled = time.monotonic()
            runner.send_signal(signal.SIGTERM)
            code = runner.wait(timeout=20)
            took = time.monotonic() - signalled
        finally:
            runner.kill()
            runner.communicate()
    assert took < 5, took
    assert code == 130  # interrupted: resumable
    assert _status(tmp_path)["state"] == "interrupted"
