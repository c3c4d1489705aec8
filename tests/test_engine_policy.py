"""Policies in the runner: deny is an answer, ask is an approval, secrets never reach the log."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import agentctl, deps
from scripted import ScriptedModel, tool_call

from agentctl.engine.approvals import decide_approval
from agentctl.engine.jobs import create_job
from agentctl.engine.policy_files import load_policy_snapshots
from agentctl.engine.run import run_job
from agentctl.errors import RecipeError, UsageError
from agentctl.recipe.load import load_recipe_text
from agentctl.recipe.params import parse_params
from agentctl.ui.plain import format_event_line

CANARY = "sk-canary0123456789abcdefghij"

STRICT = """
version: 1
name: strict
default: ask
rules:
  - id: read
    tools: [read_file, list_files]
    decision: allow
  - id: echo
    tools: [shell]
    commands: ["echo *", "env"]
    decision: allow
  - id: no-rm
    tools: [shell]
    commands: ["rm *"]
    decision: deny
approvals: {expires_after: 1h}
"""


def make_job(store, workspace, text, policies=(), tmp_path=None):
    loaded = load_recipe_text(text, str(workspace / "recipe.yaml"), base_dir=workspace)
    options = {"policies": load_policy_snapshots(loaded, [str(p) for p in policies])}
    return create_job(
        store, loaded, params=parse_params(loaded.recipe, []), workspace=workspace, options=options
    )


def policy_file(tmp_path: Path, text: str = STRICT, name: str = "strict.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


AGENT = """
version: 1
name: guarded
env: [MY_TOKEN]
steps:
  - id: work
    agent:
      instructions: Work.
      tools: [shell, read_file, write_file, http_get]
"""


def test_a_denied_action_is_answered_to_the_model_and_the_job_goes_on(store, workspace, tmp_path):
    (workspace / "precious").write_text("keep")
    job = make_job(store, workspace, AGENT, [policy_file(tmp_path)])
    model = ScriptedModel([[tool_call("shell", command="echo hi; rm precious")], "understood"])
    outcome = run_job(job, deps(store, model))
    assert outcome.state == "succeeded"
    assert (workspace / "precious").exists()
    answer = model.calls[1]["messages"][-1]["content"]
    assert "not run" in answer and "strict:no-rm (deny)" in answer
    finished = [e for e in store.read_events(job) if e.type == "action_finished"][-1]
    assert finished.data["refused"]
    assert {"policy": "strict", "id": "no-rm", "decision": "deny"}.items() <= next(
        r for r in finished.data["rules"] if r["id"] == "no-rm"
    ).items()


def test_ask_parks_with_the_rules_then_approve_runs_it_once(store, workspace, tmp_path):
    job = make_job(store, workspace, AGENT, [policy_file(tmp_path)])
    model = ScriptedModel([[tool_call("write_file", path="out.txt", content="x")], "done"])
    outcome = run_job(job, deps(store, model))
    assert outcome.state == "awaiting_approval"
    pending = outcome.pending[0]
    assert pending["tool"] == "write_file" and pending["args"]["path"] == "out.txt"
    assert any(
        (rule["policy"], rule["id"]) == ("strict", "default") and rule["reason"]
        for rule in pending["rules"]
    )
    decide_approval(store, job, None, "approve", by="t", comment=None, now=time.time())
    assert run_job(job, deps(store, ScriptedModel(["done"]))).state == "succeeded"
    assert (workspace / "out.txt").read_text() == "x"
    started = [e for e in store.read_events(job) if e.type == "action_started"]
    assert len(started) == 1 and started[0].data["approval"] == pending["request"]


def test_an_expired_approval_counts_as_a_deny(store, workspace, tmp_path):
    job = make_job(store, workspace, AGENT, [policy_file(tmp_path)])
    model = ScriptedModel([[tool_call("write_file", path="late.txt", content="x")]])
    run_job(job, deps(store, model))
    decide_approval(store, job, None, "approve", by="t", comment=None, now=time.time() - 7200)
    after = ScriptedModel(["ok"])
    assert run_job(job, deps(store, after)).state == "succeeded"
    assert not (workspace / "late.txt").exists()
    assert "expiry" in after.calls[0]["messages"][-1]["content"]
    expired = [e for e in store.read_events(job) if e.type == "approval_expired"]
    assert len(expired) == 1
    line = format_event_line(1, 0.0, "approval_expired", expired[0].step, expired[0].data)
    assert line is not None and "expired" in line  # `agentctl log` shows it


def test_a_recipe_policy_cannot_loosen_one_given_on_the_command_line(store, workspace, tmp_path):
    loose = policy_file(workspace, "version: 1\nname: loose\ndefault: allow\n", "loose.yaml")
    text = AGENT.replace("name: guarded\n", f"name: guarded\npolicy: {loose.name}\n")
    job = make_job(store, workspace, text, [policy_file(tmp_path)])
    model = ScriptedModel([[tool_call("shell", command="rm loose.yaml")], "ok"])
    assert run_job(job, deps(store, model)).state == "succeeded"
    assert loose.exists()


def test_a_run_step_is_decided_part_by_part(store, workspace, tmp_path):
    (workspace / "precious").write_text("keep")
    job = make_job(
        store,
        workspace,
        "version: 1\nname: r\nsteps:\n  - id: sneaky\n    run: echo ok; rm precious\n",
        [policy_file(tmp_path)],
    )
    outcome = run_job(job, deps(store))
    assert outcome.state == "failed" and (workspace / "precious").exists()


def test_secrets_are_masked_in_the_log_and_the_tool_environment_is_minimal(
    store, workspace, tmp_path, monkeypatch
):
    env = {"PATH": "/usr/bin:/bin", "MY_TOKEN": "tok-" + "z" * 20, "OPENAI_API_KEY": CANARY}
    model = ScriptedModel(
        [
            [
                tool_call("shell", command="env"),
                tool_call("shell", command=f"echo leaked {CANARY}; printenv MY_TOKEN"),
            ],
            f"the key is {CANARY}",
        ]
    )
    job = make_job(store, workspace, AGENT)
    outcome = run_job(job, deps(store, model, env=env))
    assert outcome.state == "succeeded"
    tool_results = [m["content"] for m in model.calls[1]["messages"] if m["role"] == "tool"]
    assert "OPENAI_API_KEY" not in tool_results[0]  # not even passed to the shell
    assert "MY_TOKEN=" in tool_results[0] and env["MY_TOKEN"] not in tool_results[0]
    assert CANARY not in tool_results[1] and env["MY_TOKEN"] not in tool_results[1]
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = store.path.read_bytes()
    assert CANARY.encode() not in raw and env["MY_TOKEN"].encode() not in raw
    assert b"[REDACTED]" in raw


def test_http_get_to_loopback_is_refused_by_default(store, workspace):
    model = ScriptedModel([[tool_call("http_get", url="http://127.0.0.1:9/")], "ok"])
    job = make_job(store, workspace, AGENT)
    assert run_job(job, deps(store, model)).state == "succeeded"
    answer = model.calls[1]["messages"][-1]["content"]
    assert answer.startswith("error") and ("refused" in answer or "denied" in answer)


def test_a_preferred_sandbox_that_is_missing_makes_shell_ask(
    store, workspace, tmp_path, monkeypatch
):
    import agentctl.process.sandbox as confine

    monkeypatch.setattr(
        confine, "_probed", confine.Confinement(kind="none", reason="not installed")
    )
    allow_all = policy_file(
        tmp_path, "version: 1\nname: open\ndefault: allow\nsandbox: preferred\n", "open.yaml"
    )
    job = make_job(store, workspace, AGENT, [allow_all])
    model = ScriptedModel([[tool_call("shell", command="echo hi")], "ok"])
    outcome = run_job(job, deps(store, model))
    assert outcome.state == "awaiting_approval"
    assert "sandbox" in outcome.pending[0]["reason"]
    assert any(
        "sandbox" in e.data.get("message", "")
        for e in store.read_events(job)
        if e.type == "warning"
    )


def test_bad_or_missing_policy_files_are_bad_input(workspace, tmp_path):
    loaded = load_recipe_text(AGENT, str(workspace / "r.yaml"), base_dir=workspace)
    with pytest.raises(UsageError):
        load_policy_snapshots(loaded, [str(tmp_path / "missing.yaml")])
    broken = policy_file(tmp_path, "version: 1\nname: b\ndefault: maybe\n", "broken.yaml")
    with pytest.raises(RecipeError) as info:
        load_policy_snapshots(loaded, [str(broken)])
    assert "broken.yaml:3" in str(info.value)


@pytest.mark.slow
@pytest.mark.e2e
def test_cli_policy_flag_parks_and_prints_the_approve_command(tmp_path, workspace):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("version: 1\nname: r\nsteps:\n  - id: w\n    run: touch made.txt\n")
    db = tmp_path / "a.db"
    argv = [
        "run",
        str(recipe),
        "--workspace",
        str(workspace),
        "--policy",
        str(policy_file(tmp_path)),
    ]
    done = agentctl([*argv, "--non-interactive"], db, tmp_path)
    assert done.returncode == 3, done.stderr
    assert "agentctl approve" in done.stdout and not (workspace / "made.txt").exists()
    status = agentctl(["status", "last", "--json"], db, tmp_path)
    pending = json.loads(status.stdout)["pending_approvals"][0]
    assert pending["tool"] == "shell" and pending["args"] == {"command": "touch made.txt"}


def test_streamed_model_text_is_masked_before_it_is_shown(store, workspace):
    shown: list[str] = []
    env = {"PATH": "/usr/bin:/bin", "MY_TOKEN": "tok-" + "q" * 20}
    job = make_job(store, workspace, AGENT)
    model = ScriptedModel([f"here it is: {env['MY_TOKEN']} and {CANARY}"])
    assert run_job(job, deps(store, model, env=env, on_text=shown.append)).state == "succeeded"
    text = "".join(shown)
    assert "here it is" in text and env["MY_TOKEN"] not in text and CANARY not in text
