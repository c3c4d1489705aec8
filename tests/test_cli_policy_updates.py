"""`agentctl policy add` and `agentctl policy replay` through the command line."""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import assert_bad_input, invoke
from scripted import ScriptedModel, tool_call
from test_engine import deps
from test_engine_policy import AGENT, make_job, policy_file
from test_engine_policy_updates import ASK_TOUCH, NO_TOUCH

from agentctl.engine.run import run_job
from agentctl.store.sqlite import SQLiteStore


def _store() -> SQLiteStore:
    return SQLiteStore(Path(os.environ["AGENTCTL_DB"]))


def test_replay_exits_1_when_an_action_that_ran_would_now_be_denied(workspace, tmp_path):
    store = _store()
    job = make_job(store, workspace, AGENT)
    run_job(job, deps(store, ScriptedModel([[tool_call("shell", command="touch a")], "ok"])))
    strict = str(policy_file(tmp_path, NO_TOUCH, "no.yaml"))
    result = invoke("policy", "replay", "last", strict, "--json")
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert document["job"] == job and document["actions"] == 1
    assert document["ran_now_denied"] == 1
    assert document["changed"][0]["was"] == "allow" and document["changed"][0]["now"] == "deny"

    plain = invoke("policy", "replay", job[:8], strict)
    assert plain.exit_code == 1
    assert "allow → deny (ran)" in plain.stdout
    assert "1 actions re-decided, 1 would change, 1 that ran would now be denied" in plain.stdout

    loose = str(policy_file(tmp_path, "version: 1\nname: all\ndefault: allow\n", "all.yaml"))
    same = invoke("policy", "replay", "last", loose)
    assert same.exit_code == 0 and "0 would change" in same.stdout


def test_add_voids_a_pending_approval_and_says_how_to_continue(workspace, tmp_path):
    store = _store()
    job = make_job(store, workspace, AGENT, [policy_file(tmp_path, ASK_TOUCH, "ask.yaml")])
    run_job(job, deps(store, ScriptedModel([[tool_call("shell", command="touch x")], "ok"])))
    result = invoke("policy", "add", "last", str(policy_file(tmp_path, NO_TOUCH, "no.yaml")))
    assert result.exit_code == 0, result.output
    assert "voided approval r" in result.stdout
    assert f"agentctl resume {job}" in result.stdout
    status = json.loads(invoke("status", job, "--json").stdout)
    assert status["pending_approvals"] == []


def test_add_to_a_finished_job_is_bad_input(workspace, tmp_path):
    store = _store()
    job = make_job(store, workspace, AGENT)
    run_job(job, deps(store, ScriptedModel(["done"])))
    result = invoke("policy", "add", job, str(policy_file(tmp_path, NO_TOUCH, "no.yaml")))
    assert_bad_input(result, "already succeeded")


def test_add_an_invalid_policy_names_the_file_and_adds_nothing(workspace, tmp_path):
    store = _store()
    job = make_job(store, workspace, AGENT, [policy_file(tmp_path, ASK_TOUCH, "ask.yaml")])
    run_job(job, deps(store, ScriptedModel([[tool_call("shell", command="touch x")], "ok"])))
    bad = policy_file(tmp_path, "version: 1\nname: bad\ndefault: maybe\n", "bad.yaml")
    result = invoke("policy", "add", job, str(bad))
    assert_bad_input(result, "bad.yaml")
    assert not [e for e in store.read_events(job) if e.type == "policy_added"]
