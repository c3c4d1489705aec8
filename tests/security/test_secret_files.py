"""Values in the workspace's .env files never reach the model, the log or a diff (issue 11,
item 9), whichever command brings them out."""

from __future__ import annotations

import json
import subprocess
import uuid
from types import SimpleNamespace

import pytest
from scripted import ScriptedModel, tool_call
from test_engine import deps, make_job

from agentctl.changes.history import collect_changes, render_diff
from agentctl.changes.record import ChangeRecorder
from agentctl.engine.run import run_job
from agentctl.store.sqlite import SQLiteStore

CANARY = f"CANARY-{uuid.uuid4().hex}"
NEW_CANARY = f"CANARY-NEW-{uuid.uuid4().hex}"

RECIPE = """
version: 1
name: leak
steps:
  - id: look
    agent:
      instructions: Look around.
      tools: [shell, read_file]
"""

# Commands that bring a committed .env's content out, as the model would ask for them.
LEAKS = [
    "grep -r CANARY .",
    "git show HEAD:.env",
    "cat .env",
    "git log -p",
]


@pytest.fixture
def store(tmp_path) -> SQLiteStore:
    return SQLiteStore(tmp_path / "engine.db")


@pytest.mark.slow
def test_env_values_are_masked_for_the_model_the_log_and_the_diff(store, workspace, tmp_path):
    (workspace / ".env").write_text(f"API_TOKEN={CANARY}\n")
    (workspace / "app.py").write_text("print('hi')\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], cwd=workspace, check=True)
    subprocess.run([*git, "add", "-A"], cwd=workspace, check=True)
    subprocess.run([*git, "commit", "-qm", "init"], cwd=workspace, check=True)
    model = ScriptedModel([[tool_call("shell", command=c) for c in LEAKS], "done"])
    job = make_job(store, workspace, RECIPE)
    assert run_job(job, deps(store, model)).state == "succeeded"

    seen = str(model.calls)
    assert "API_TOKEN=" in seen and CANARY not in seen  # the command ran; its value is masked
    events = store.read_events(job)
    assert CANARY not in str(events)
    store.close() if hasattr(store, "close") else None
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("engine.db*"))
    assert CANARY.encode() not in raw


def test_a_changed_env_file_is_recorded_as_a_hash_only(workspace):
    (workspace / ".env").write_text(f"API_TOKEN={CANARY}\n")
    (workspace / "config").mkdir()
    recorder = ChangeRecorder(workspace)
    token = recorder.before(None, {"command": "edit"})
    (workspace / ".env").write_text(f"API_TOKEN={CANARY}\nNEW_TOKEN={NEW_CANARY}\n")
    (workspace / "config" / ".env.local").write_text(f"X={NEW_CANARY}\n")
    changes = recorder.after(token)
    assert {c["path"] for c in changes} == {".env", "config/.env.local"}
    text = json.dumps(changes)
    assert CANARY not in text and NEW_CANARY not in text
    env = next(c for c in changes if c["path"] == ".env")
    assert env["before"]["sha256"] and env["before"]["sha256"] != env["after"]["sha256"]
    assert "secret" in env["note"]
    event = SimpleNamespace(type="action_finished", seq=1, step="s", data={"changes": changes})
    diff = render_diff(collect_changes([event]), color=False)
    assert CANARY not in diff and NEW_CANARY not in diff
