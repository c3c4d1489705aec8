"""A `.env` that lives only in git history (committed, then deleted) is a secret too (issue
21, case 3): its values are found at job start and masked, and the case's commands end with
the model holding no piece of the value."""

from __future__ import annotations

import subprocess
import uuid

import pytest
from conftest import deps, make_job
from scripted import ScriptedModel, tool_call

from agentctl.engine.run import run_job
from agentctl.process.git_secrets import committed_secret_files
from agentctl.redact import history_env_secrets
from agentctl.store.sqlite import SQLiteStore

VALUE = f"CANARY-HIST-{uuid.uuid4().hex}"
OTHER = f"CANARY-BRANCH-{uuid.uuid4().hex}"
RECIPE = """
version: 1
name: history
steps:
  - id: look
    agent:
      instructions: Look around.
      tools: [shell]
"""
COMMANDS = [
    "git show HEAD~1:.env | cut -c1-18",
    "git show HEAD~1:.env | cut -c19-60",
    "git log -p | cut -c1-30",
    "git log -p --all",
    "git log --all -p | base64",
    "git grep API_TOKEN HEAD~1",
]


def git(ws, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=ws,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(workspace):
    """A .env committed then deleted on main, and another only on a side branch."""
    git(workspace, "init", "-q", "-b", "main")
    (workspace / ".env").write_text(f"API_TOKEN={VALUE}\n")
    (workspace / "app.py").write_text("print('hi')\n")
    git(workspace, "add", "-A")
    git(workspace, "commit", "-qm", "init")
    git(workspace, "rm", "-q", ".env")
    git(workspace, "commit", "-qm", "drop the .env")
    git(workspace, "checkout", "-q", "-b", "side")
    (workspace / "deploy").mkdir()
    (workspace / "deploy" / ".env.production").write_text(f"export SECRET='{OTHER}'\n")
    git(workspace, "add", "-A")
    git(workspace, "commit", "-qm", "side")
    git(workspace, "checkout", "-q", "main")
    assert not (workspace / ".env").exists() and not (workspace / "deploy").exists()
    return workspace


def pieces(text: str) -> list[str]:
    return [s[i : i + 8] for s in (VALUE, OTHER) for i in range(len(s) - 7) if s[i : i + 8] in text]


def test_values_committed_on_any_branch_are_found(repo):
    files = committed_secret_files(repo)
    assert {path for path, _ in files} == {".env", "deploy/.env.production"}
    assert set(history_env_secrets(repo)) == {VALUE, OTHER}


def test_a_folder_that_is_no_repository_has_no_history(workspace):
    assert committed_secret_files(workspace) == []


@pytest.mark.slow
def test_the_model_and_the_log_get_no_piece_of_a_value_from_history(repo, tmp_path):
    store = SQLiteStore(tmp_path / "engine.db")
    model = ScriptedModel([[tool_call("shell", command=c) for c in COMMANDS], "done"])
    job = make_job(store, repo, RECIPE)
    assert run_job(job, deps(store, model)).state == "succeeded"
    seen = str(model.calls)
    assert "drop the .env" in seen  # the history was shown
    assert pieces(seen) == [], pieces(seen)
    assert pieces(str(store.read_events(job))) == []
