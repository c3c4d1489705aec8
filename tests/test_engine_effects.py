"""The effect check in the runner (issue 21, item 1): what an action changed is held against
the policies' write rules after it ran, whatever program made the change.

Each action here writes through a program whose words name no protected path (`gen.py`
and the MCP test server's `put` map a code word to the path), so the policy's prediction
lets it run and only the observed change set can stop it: denied changes are undone and
answered as denied, asked ones are undone and parked until a person decides."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from conftest import deps
from scripted import ScriptedModel, tool_call

from agentctl.engine.approvals import decide_approval
from agentctl.engine.jobs import create_job
from agentctl.engine.policy_files import load_policy_snapshots
from agentctl.engine.run import run_job
from agentctl.recipe.load import load_recipe_text
from agentctl.recipe.params import parse_params

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable

POLICY = """
version: 1
name: effects
default: allow
sandbox: off
rules:
  - id: no-envrc
    tools: ["*"]
    paths: [".envrc", "**/.envrc"]
    decision: deny
    reason: direnv would run it
  - id: config-asks
    tools: [write_file, edit_file]
    paths: ["config/**"]
    decision: ask
    reason: configuration needs a look
"""

GEN = """
import pathlib, sys
target = pathlib.Path({"dotenvrc": ".envrc", "cfg": "config/app.ini"}[sys.argv[1]])
target.parent.mkdir(parents=True, exist_ok=True)
target.write_text(sys.argv[2])
pathlib.Path("side.txt").write_text("side effect")
print("generated")
"""

STEPS = """
steps:
  - id: work
    agent:
      instructions: Work.
      tools: [shell, interactive{more}]
"""
SERVER = json.dumps([PYTHON, str(HERE / "mcp_testserver.py")])
RECIPES = {
    "plain": "version: 1\nname: effects\n" + STEPS.format(more=""),
    "mcp": f"version: 1\nname: effects\nmcp:\n  t:\n    command: {SERVER}\n"
    + STEPS.format(more=", t.put"),
}


def shell_call(word: str) -> dict:
    return tool_call("shell", command=f"python3 gen.py {word} hello")


def interactive_call(word: str) -> dict:
    return tool_call(
        "interactive",
        action="start",
        session="s",
        command=f"python3 gen.py {word} hello",
        expect="generated",
    )


def mcp_call(word: str) -> dict:
    return tool_call("t__put", word=word, text="hello")


CALLS = {"shell": shell_call, "interactive": interactive_call, "mcp": mcp_call}


@pytest.fixture
def job_for(store, workspace, tmp_path):
    (workspace / "gen.py").write_text(GEN)
    policy = tmp_path / "effects.yaml"
    policy.write_text(POLICY)

    def make(kind: str) -> str:
        text = RECIPES["mcp" if kind == "mcp" else "plain"]
        loaded = load_recipe_text(text, str(workspace / "recipe.yaml"), base_dir=workspace)
        options = {"policies": load_policy_snapshots(loaded, [str(policy)])}
        params = parse_params(loaded.recipe, [])
        return create_job(store, loaded, params=params, workspace=workspace, options=options)

    return make


def finished(store, job) -> list:
    return [e for e in store.read_events(job) if e.type == "action_finished"]


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(CALLS))
def test_a_denied_change_undoes_the_action_and_is_answered_as_denied(
    store, workspace, job_for, kind
):
    job = job_for(kind)
    model = ScriptedModel([[CALLS[kind]("dotenvrc")], "understood"])
    outcome = run_job(job, deps(store, model))
    assert outcome.state == "succeeded"
    assert not (workspace / ".envrc").exists()
    answer = str(model.calls[1]["messages"][-1]["content"])
    assert "denied by the policy" in answer and ".envrc" in answer and "effects:no-envrc" in answer
    last = finished(store, job)[-1].data
    assert last["error"] == "denied" and last["decision"] == "deny"
    assert last["effects"][0]["path"] == ".envrc"
    assert "changes" not in last  # nothing of it is left for diff or rollback


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(CALLS))
def test_an_asked_change_is_undone_parked_and_an_approval_runs_it_again(
    store, workspace, job_for, kind
):
    job = job_for(kind)
    outcome = run_job(job, deps(store, ScriptedModel([[CALLS[kind]("cfg")], "done"])))
    assert outcome.state == "awaiting_approval"
    pending = outcome.pending[0]
    assert (
        "config/app.ini" in pending["reason"] and "configuration needs a look" in pending["reason"]
    )
    assert any(r["id"] == "config-asks" for r in pending["rules"])
    assert not (workspace / "config" / "app.ini").exists()
    if kind != "mcp":  # the MCP server's put writes only the one file
        assert not (workspace / "side.txt").exists()  # the whole action was undone
    decide_approval(store, job, None, "approve", by="t", comment=None, now=time.time())
    after = ScriptedModel(["done"])
    assert run_job(job, deps(store, after)).state == "succeeded"
    assert (workspace / "config" / "app.ini").read_text() == "hello"
    last = finished(store, job)[-1].data
    assert last["ok"] and any(c["path"] == "config/app.ini" for c in last["changes"])
    assert len(after.calls) == 1  # the model was not asked again for the action


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(CALLS))
def test_an_asked_change_a_person_denies_stays_undone(store, workspace, job_for, kind):
    job = job_for(kind)
    run_job(job, deps(store, ScriptedModel([[CALLS[kind]("cfg")], "understood"])))
    decide_approval(store, job, None, "deny", by="alice", comment="not now", now=time.time())
    after = ScriptedModel(["understood"])
    assert run_job(job, deps(store, after)).state == "succeeded"
    assert not (workspace / "config" / "app.ini").exists()
    answer = str(after.calls[0]["messages"][-1]["content"])
    assert "denied by alice: not now" in answer
    started = [e for e in store.read_events(job) if e.type == "action_started"]
    assert len(started) == 1  # it never ran again


@pytest.mark.slow
def test_an_interactive_approver_answers_at_once_and_the_action_runs_again(
    store, workspace, job_for
):
    job = job_for("shell")
    asked = []
    model = ScriptedModel([[shell_call("cfg")], "done"])
    outcome = run_job(job, deps(store, model, approver=lambda r: asked.append(r) or "approve"))
    assert outcome.state == "succeeded"
    assert len(asked) == 1 and "config/app.ini" in asked[0]["reason"]
    assert (workspace / "config" / "app.ini").read_text() == "hello"
    assert "generated" in str(model.calls[1]["messages"][-1]["content"])


def test_a_run_step_whose_changes_a_policy_denies_fails_and_leaves_nothing(
    store, workspace, tmp_path
):
    (workspace / "gen.py").write_text(GEN)
    policy = tmp_path / "effects.yaml"
    policy.write_text(POLICY)
    text = "version: 1\nname: build\nsteps:\n  - id: gen\n    run: python3 gen.py dotenvrc x\n"
    loaded = load_recipe_text(text, str(workspace / "recipe.yaml"), base_dir=workspace)
    options = {"policies": load_policy_snapshots(loaded, [str(policy)])}
    params = parse_params(loaded.recipe, [])
    job = create_job(store, loaded, params=params, workspace=workspace, options=options)
    outcome = run_job(job, deps(store))
    assert outcome.state == "failed"
    assert "denied" in outcome.error["message"]
    assert not (workspace / ".envrc").exists() and not (workspace / "side.txt").exists()
