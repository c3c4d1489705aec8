"""Policies that change while a job lives (`policy add`, edited files) and `policy replay`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from scripted import ScriptedModel, tool_call
from test_engine import deps
from test_engine_policy import AGENT, make_job, policy_file

from agentctl.engine.policy_updates import add_policies, replay_policies
from agentctl.engine.run import run_job
from agentctl.errors import UsageError
from agentctl.store.sqlite import SQLiteStore
from agentctl.ui.event_lines import describe_event

ASK_TOUCH = """
version: 1
name: lenient
default: allow
rules:
  - id: touch-asks
    tools: [shell]
    commands: ["touch *"]
    decision: ask
"""

NO_TOUCH = """
version: 1
name: no-touch
default: allow
rules:
  - id: no-touch
    tools: [shell]
    commands: ["touch *"]
    decision: deny
"""


@pytest.fixture
def store(tmp_path) -> SQLiteStore:
    return SQLiteStore(tmp_path / "engine.db")


def events_of(store, job_id, type_):
    return [e for e in store.read_events(job_id) if e.type == type_]


def test_an_added_policy_voids_a_pending_approval_it_denies(store, workspace, tmp_path):
    job = make_job(store, workspace, AGENT, [policy_file(tmp_path, ASK_TOUCH, "ask.yaml")])
    model = ScriptedModel([[tool_call("shell", command="touch made")], "told"])
    parked = run_job(job, deps(store, model))
    assert parked.state == "awaiting_approval" and parked.exit_code == 3
    added = add_policies(
        store, job, [str(policy_file(tmp_path, NO_TOUCH, "no.yaml"))], by="alice", now=time.time()
    )
    assert [v["request"] for v in added.voided] == [parked.pending[0]["request"]]
    assert store.list_approvals(job, state="pending") == []
    voided = store.list_approvals(job, state="void")[0]
    assert voided["decided_by"] == "policy add by alice"
    assert events_of(store, job, "approval_voided")[0].data["tool"] == "shell"

    resumed = run_job(job, deps(store, model))
    assert resumed.state == "succeeded"
    assert not (workspace / "made").exists()
    refused = events_of(store, job, "action_finished")[-1].data
    assert refused["refused"] and refused["error"] == "denied"
    assert "no-touch" in json.dumps(refused["rules"])


def test_an_added_policy_that_allows_leaves_the_approval_pending(store, workspace, tmp_path):
    job = make_job(store, workspace, AGENT, [policy_file(tmp_path, ASK_TOUCH, "ask.yaml")])
    run_job(job, deps(store, ScriptedModel([[tool_call("shell", command="touch made")], "ok"])))
    loose = "version: 1\nname: loose\ndefault: allow\n"
    added = add_policies(
        store, job, [str(policy_file(tmp_path, loose, "loose.yaml"))], by="bob", now=time.time()
    )
    assert added.voided == []
    assert len(store.list_approvals(job, state="pending")) == 1  # never looser: still asks


class _AddsPolicyMidStep(ScriptedModel):
    """Plays another terminal running `agentctl policy add` while the model thinks."""

    def __init__(self, script, store, job_id, policy):
        super().__init__(script)
        self.store, self.job_id, self.policy = store, job_id, policy

    def complete(self, role, messages, tools, *, call_index, on_text=None, bounds=None):
        if call_index == 1:
            add_policies(self.store, self.job_id, [self.policy], by="carol", now=time.time())
            # The model takes a second to answer: time for 20 beats of the runner's heartbeat
            # (every 0.05 s here), which is how a running job learns of the new policy.
            time.sleep(1.0)
        return super().complete(
            role, messages, tools, call_index=call_index, on_text=on_text, bounds=bounds
        )


def test_a_running_job_applies_an_added_policy_from_its_next_action(store, workspace, tmp_path):
    job = make_job(
        store,
        workspace,
        AGENT,
        [policy_file(tmp_path, ASK_TOUCH.replace("ask\n", "allow\n"), "ok.yaml")],
    )
    deny = str(policy_file(tmp_path, NO_TOUCH, "no.yaml"))
    model = _AddsPolicyMidStep(
        [
            [tool_call("shell", command="touch before")],
            [tool_call("shell", command="touch after")],
            "done",
        ],
        store,
        job,
        deny,
    )
    outcome = run_job(job, deps(store, model))
    assert outcome.state == "succeeded"
    assert (workspace / "before").exists()  # ran before the policy was added
    assert not (workspace / "after").exists()  # denied by it
    types = [e.type for e in store.read_events(job)]
    applied = types.index("policy_applied")
    assert applied < max(i for i, t in enumerate(types) if t == "action_finished")
    assert "no-touch" in model.calls[2]["messages"][-1]["content"]
    lines = [describe_event(e.type, e.step, e.data) for e in store.read_events(job)]
    assert f"policy {Path(deny).resolve()} added by carol" in lines
    assert any(line and line.endswith("now applies to every next action") for line in lines)


def test_a_resume_adds_a_policy_file_that_changed_beside_its_snapshot(store, workspace, tmp_path):
    path = policy_file(tmp_path, ASK_TOUCH, "team.yaml")
    job = make_job(store, workspace, AGENT, [path])
    model = ScriptedModel([[tool_call("shell", command="touch made")], "ok"])
    assert run_job(job, deps(store, model)).state == "awaiting_approval"
    path.write_text(NO_TOUCH)  # the team tightened the file while the job waited
    outcome = run_job(job, deps(store, model))
    assert outcome.state == "succeeded" and not (workspace / "made").exists()
    added = events_of(store, job, "policy_added")
    assert added[0].data["path"] == str(path.resolve()) and "changed" in added[0].data["by"]


def test_a_resume_refuses_a_changed_policy_file_that_no_longer_loads(store, workspace, tmp_path):
    path = policy_file(tmp_path, ASK_TOUCH, "team.yaml")
    job = make_job(store, workspace, AGENT, [path])
    run_job(job, deps(store, ScriptedModel([[tool_call("shell", command="touch x")], "ok"])))
    path.write_text("version: 1\nname: broken\ndefault: perhaps\n")
    with pytest.raises(UsageError) as caught:
        run_job(job, deps(store, ScriptedModel(["ok"])))
    assert caught.value.exit_code == 2 and "team.yaml" in caught.value.message


def test_a_finished_job_takes_no_policy(store, workspace, tmp_path):
    job = make_job(store, workspace, AGENT)
    assert run_job(job, deps(store, ScriptedModel(["done"]))).state == "succeeded"
    with pytest.raises(UsageError, match="already succeeded"):
        add_policies(store, job, [str(policy_file(tmp_path, NO_TOUCH))], by="x", now=time.time())


def test_replay_lists_changed_decisions_and_counts_ran_actions_now_denied(
    store, workspace, tmp_path
):
    job = make_job(store, workspace, AGENT)
    script = [[tool_call("shell", command="touch a")], [tool_call("shell", command="ls")], "ok"]
    assert run_job(job, deps(store, ScriptedModel(script))).state == "succeeded"
    result = replay_policies(store, job, [str(policy_file(tmp_path, NO_TOUCH, "no.yaml"))])
    assert result.actions == 2
    assert [(a.tool, a.args["command"], a.was, a.now, a.ran) for a in result.changed] == [
        ("shell", "touch a", "allow", "deny", True)
    ]
    assert len(result.ran_now_denied) == 1
    same = replay_policies(
        store,
        job,
        [str(policy_file(tmp_path, "version: 1\nname: all\ndefault: allow\n", "all.yaml"))],
    )
    assert same.changed == [] and same.ran_now_denied == []


OPEN = ASK_TOUCH.replace("ask\n", "allow\n") + "network: true\n"

LOOK_ONLY = """
version: 1
name: look-only
default: deny
rules:
  - id: touch-runs
    tools: [shell]
    commands: ["touch *"]
    decision: allow
"""


def test_an_added_policy_narrows_the_sandbox_of_the_next_action(store, workspace, tmp_path):
    from agentctl.process.sandbox import probe_confinement

    job = make_job(store, workspace, AGENT, [policy_file(tmp_path, OPEN, "open.yaml")])
    model = _AddsPolicyMidStep(
        [
            [tool_call("shell", command="touch before")],
            [tool_call("shell", command="touch after")],
            "done",
        ],
        store,
        job,
        str(policy_file(tmp_path, LOOK_ONLY, "look.yaml")),
    )
    assert run_job(job, deps(store, model)).state == "succeeded"
    finished = [e.data for e in events_of(store, job, "action_finished")]
    assert [d["confinement"]["network"] for d in finished] == [True, False]
    assert (workspace / "before").exists() and not (workspace / "after").exists()
    if probe_confinement().available:  # the workspace was mounted read-only for it
        assert "Read-only file system" in finished[1]["output"], finished[1]
