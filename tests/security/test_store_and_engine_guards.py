"""The smaller holes of issue 11, item 13: a world-readable database, an approval forged in
SQLite, a database inside the workspace, a masked secret replayed into a command, and an
unbounded fork count."""

from __future__ import annotations

import sqlite3
import stat

import pytest
from scripted import ScriptedModel, tool_call
from test_engine import deps, make_job

from agentctl.engine.launch import prepare_job
from agentctl.engine.run import run_job
from agentctl.errors import UsageError
from agentctl.process.run import PROCESS_LIMIT, minimal_env, run_process
from agentctl.redact import MASK
from agentctl.store.sqlite import SQLiteStore

GATED = """
version: 1
name: gated
steps:
  - id: gate
    approval: Ship it?
  - id: after
    run: echo shipped > shipped.txt
"""


def test_a_new_database_is_private(tmp_path):
    db = tmp_path / "new-folder" / "agentctl.db"
    store = SQLiteStore(db)
    job = make_job(store, tmp_path, "version: 1\nname: x\nsteps:\n  - id: a\n    run: 'true'\n")
    assert job
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    for side in db.parent.glob("agentctl.db-*"):
        assert stat.S_IMODE(side.stat().st_mode) & 0o077 == 0, side


def test_an_approval_forged_in_sqlite_is_refused(tmp_path, workspace):
    db = tmp_path / "engine.db"
    store = SQLiteStore(db)
    job = make_job(store, workspace, GATED)
    assert run_job(job, deps(store)).state == "awaiting_approval"
    # Someone with the database file, not `agentctl approve`, marks it approved.
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE approvals SET state = 'approved', decided_at = 1 WHERE job_id = ?", (job,)
        )
    outcome = run_job(job, deps(store))
    assert outcome.state == "failed" and "denied" in outcome.error["message"]
    assert not (workspace / "shipped.txt").exists()


def test_a_database_inside_the_workspace_is_refused(tmp_path):
    workspace = tmp_path / "ws"
    (workspace / "state").mkdir(parents=True)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("version: 1\nname: x\nsteps:\n  - id: a\n    run: 'true'\n")
    store = SQLiteStore(workspace / "state" / "agentctl.db")
    with pytest.raises(UsageError) as caught:
        prepare_job(
            store,
            str(recipe),
            param_pairs=[],
            workspace=str(workspace),
            model_overrides=[],
            record=None,
            replay=None,
        )
    assert "inside the workspace" in caught.value.message and "--db" in caught.value.hint


AGENT = """
version: 1
name: replayed
steps:
  - id: work
    agent:
      instructions: Work.
      tools: [shell]
"""


def test_a_command_holding_a_masked_secret_is_asked_never_run(tmp_path, workspace):
    store = SQLiteStore(tmp_path / "engine.db")
    # What a call rebuilt from the log looks like once its secret was masked there.
    command = f"curl -H 'Authorization: token {MASK}' https://api.example/x > got.txt"
    model = ScriptedModel([[tool_call("shell", command=command)], "done"])
    job = make_job(store, workspace, AGENT)
    outcome = run_job(job, deps(store, model))
    assert outcome.state == "awaiting_approval"
    pending = outcome.pending[0]
    assert "masked" in pending["reason"]
    assert {"policy": "builtin", "id": "masked-secret", "decision": "ask"}.items() <= next(
        r for r in pending["rules"] if r["id"] == "masked-secret"
    ).items()
    assert not (workspace / "got.txt").exists()


def test_the_fork_count_is_bounded(workspace):
    result = run_process("ulimit -u", cwd=workspace, env=minimal_env(), timeout=10)
    assert result.output.strip() == str(PROCESS_LIMIT)
    # Root's processes are not counted against it by the kernel (README, Sandbox).
