"""`limits.max_repeats`: an agent repeating the exact same action is told, then stopped."""

from __future__ import annotations

import time

import pytest
from scripted import ScriptedModel, tool_call
from test_engine import deps, events_of, make_job

from agentctl.engine.approvals import decide_approval
from agentctl.engine.run import run_job
from agentctl.store.sqlite import SQLiteStore
from agentctl.ui.event_lines import describe_event

RECIPE = """
version: 1
name: loop
{limits}
steps:
  - id: look
    agent:
      instructions: Read the file.
      tools: [read_file, list_files]
"""


@pytest.fixture
def store(tmp_path) -> SQLiteStore:
    return SQLiteStore(tmp_path / "engine.db")


class _Stop(Exception):
    pass


class _StopsAfter(ScriptedModel):
    def complete(self, *args, **kwargs):
        if not self.script:
            raise _Stop("the scripted runner stops here")
        return super().complete(*args, **kwargs)


def read_a() -> list:
    return [tool_call("read_file", path="a.txt")]


def test_default_three_repeats_are_told_and_the_fourth_fails_the_step(store, workspace):
    (workspace / "a.txt").write_text("hello\n")
    # The first call and three repeats run; the fourth repeat ends the step.
    model = ScriptedModel([read_a(), read_a(), read_a(), read_a(), read_a(), "never reached"])
    job = make_job(store, workspace, RECIPE.format(limits=""))
    outcome = run_job(job, deps(store, model))
    assert outcome.state == "failed" and outcome.exit_code == 1
    started = events_of(store, job, "action_started")
    assert [e.data.get("repeat", 0) for e in started] == [0, 1, 2, 3]
    # The model was told after the third repeat, in the result of that very call.
    told = model.calls[4]["messages"][-1]["content"]
    assert "same tool, same arguments" in told and "4 times" in told
    assert all("same tool" not in c["messages"][-1]["content"] for c in model.calls[1:4])
    failed = events_of(store, job, "step_finished")[-1].data
    assert failed["state"] == "failed"
    assert "read_file" in failed["error"] and "a.txt" in failed["error"]
    assert len(model.calls) == 5  # nothing asked after the step failed
    lines = [describe_event(e.type, e.step, e.data) or "" for e in started]
    assert lines[3].endswith("(repeat 3)") and "repeat" not in lines[0]


def test_different_arguments_are_not_repeats(store, workspace):
    for name in "abcde":
        (workspace / f"{name}.txt").write_text(name)
    script = [[tool_call("read_file", path=f"{n}.txt")] for n in "abcde"] + ["done"]
    job = make_job(store, workspace, RECIPE.format(limits=""))
    outcome = run_job(job, deps(store, ScriptedModel(script)))
    assert outcome.state == "succeeded"
    assert all("repeat" not in e.data for e in events_of(store, job, "action_started"))


def test_the_smallest_max_repeats_wins_and_argument_order_does_not_matter(store, workspace):
    (workspace / "a.txt").write_text("hello\n")
    calls = [
        [tool_call("list_files", path=".", pattern="*")],
        [{"name": "list_files", "arguments": {"pattern": "*", "path": "."}}],
        [tool_call("list_files", path=".", pattern="*")],
        "never reached",
    ]
    job = make_job(store, workspace, RECIPE.format(limits="limits: {max_repeats: 1}"))
    outcome = run_job(job, deps(store, ScriptedModel(calls)))
    assert outcome.state == "failed"
    assert [e.data.get("repeat", 0) for e in events_of(store, job, "action_started")] == [0, 1]


def test_repeats_are_counted_the_same_after_resume(store, workspace):
    (workspace / "a.txt").write_text("hello\n")
    job = make_job(store, workspace, RECIPE.format(limits="limits: {max_repeats: 2}"))
    first = _StopsAfter([read_a(), read_a()])
    with pytest.raises(_Stop):
        run_job(job, deps(store, first))  # the runner dies mid-step, after two reads
    second = ScriptedModel([read_a(), read_a(), "never reached"])
    outcome = run_job(job, deps(store, second))
    assert outcome.state == "failed"
    assert [e.data.get("repeat", 0) for e in events_of(store, job, "action_started")] == [0, 1, 2]


SHELL_RECIPE = """
version: 1
name: append
steps:
  - id: write
    agent:
      instructions: Append a line.
      tools: [shell, read_file]
"""


def append_same() -> list:
    return [tool_call("shell", command="echo same >> side.txt")]


def test_an_identical_repeat_of_a_changing_action_asks_before_it_runs_again(store, workspace):
    # Observed: 4 identical `echo same >> side.txt` ran before the repeat limit stopped the step.
    model = ScriptedModel([append_same(), append_same(), "never reached"])
    job = make_job(store, workspace, SHELL_RECIPE)
    outcome = run_job(job, deps(store, model))  # nobody to ask: the job parks (exit 3)
    assert outcome.state == "awaiting_approval" and outcome.exit_code == 3
    assert (workspace / "side.txt").read_text() == "same\n"  # the repeat did not run
    [pending] = outcome.pending
    assert pending["tool"] == "shell" and pending["args"] == {"command": "echo same >> side.txt"}
    assert "the same action already ran at step write (write/t0/c0)" in pending["reason"]
    assert any(r.get("id") == "repeat" for r in pending["rules"])


def test_an_approved_repeat_runs_once_and_a_denied_one_is_told(store, workspace):
    job = make_job(store, workspace, SHELL_RECIPE)
    run_job(job, deps(store, ScriptedModel([append_same(), append_same()])))
    decide_approval(store, job, None, "approve", by="tester", comment=None, now=time.time())
    outcome = run_job(job, deps(store, ScriptedModel(["done"])))
    assert outcome.state == "succeeded"
    assert (workspace / "side.txt").read_text() == "same\nsame\n"
    asked = []
    job = make_job(store, workspace, SHELL_RECIPE)
    model = ScriptedModel([append_same(), append_same(), "gave up"])
    outcome = run_job(job, deps(store, model, approver=lambda r: asked.append(r) or "deny"))
    assert outcome.state == "succeeded" and len(asked) == 1
    assert (workspace / "side.txt").read_text() == "same\nsame\nsame\n"
    assert "was not run" in model.calls[-1]["messages"][-1]["content"]


def test_read_only_repeats_do_not_ask(store, workspace):
    (workspace / "a.txt").write_text("hello\n")
    model = ScriptedModel([read_a(), read_a(), "done"])
    job = make_job(store, workspace, RECIPE.format(limits=""))
    asked = []
    outcome = run_job(job, deps(store, model, approver=lambda r: asked.append(r) or "deny"))
    assert outcome.state == "succeeded" and asked == []
