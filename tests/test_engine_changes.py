"""The runner records what each action changed; diff and rollback use it, even after a crash."""

from __future__ import annotations

import time

from conftest import deps, make_job, simulate_crash_after_action_started
from scripted import ScriptedModel, tool_call

from agentctl.changes.history import collect_changes, render_diff
from agentctl.engine.approvals import decide_approval
from agentctl.engine.rollback import rollback_job
from agentctl.engine.run import run_job
from agentctl.store.sqlite import SQLiteStore

AGENT = """
version: 1
name: changes
steps:
  - id: edit
    agent:
      instructions: Change things.
      tools: [write_file, edit_file, shell]
  - id: tidy
    run: rm -f old.txt && mkdir -p out && echo made > out/new.txt
"""


def test_file_tools_and_shell_changes_are_recorded_and_rolled_back(store, workspace):
    (workspace / "keep.txt").write_text("one\n")
    (workspace / "old.txt").write_text("old\n")
    model = ScriptedModel(
        [
            [
                tool_call("edit_file", path="keep.txt", old="one", new="two"),
                tool_call("write_file", path="fresh.txt", content="hi\n"),
                tool_call("shell", command="mv fresh.txt moved.txt"),
            ],
            "done",
        ]
    )
    job = make_job(store, workspace, AGENT)
    assert run_job(job, deps(store, model)).state == "succeeded"
    changes = collect_changes(store.read_events(job))
    kinds = {(c.path, c.kind) for c in changes}
    assert ("keep.txt", "modified") in kinds and ("fresh.txt", "created") in kinds
    assert ("old.txt", "deleted") in kinds and ("out/new.txt", "created") in kinds
    assert any(c.kind == "renamed" and c.path == "moved.txt" for c in changes)
    assert "-one\n+two" in render_diff(changes, color=False)

    report = rollback_job(store, job)
    assert report["conflicts"] == []
    assert (workspace / "keep.txt").read_text() == "one\n"
    assert (workspace / "old.txt").read_text() == "old\n"
    assert not (workspace / "moved.txt").exists() and not (workspace / "fresh.txt").exists()
    assert not (workspace / "out").exists()
    assert store.read_events(job)[-1].type == "rollback"


def test_rollback_after_a_crash_and_resume(store, workspace):
    job = make_job(store, workspace, AGENT)
    model = ScriptedModel([[tool_call("shell", command="echo x > made.txt")], "done"])
    simulate_crash_after_action_started(store, job, model, workspace)
    run_job(job, deps(store))  # parks: the uncertain action needs a person
    decide_approval(store, job, None, "approve", by="t", comment=None, now=time.time())
    assert run_job(job, deps(store, ScriptedModel(["done"]))).state == "succeeded"
    assert (workspace / "made.txt").exists()
    rollback_job(store, job)
    assert not (workspace / "made.txt").exists()


def test_on_failure_rollback_undoes_the_failed_job(store, workspace):
    (workspace / "a.txt").write_text("original\n")
    job = make_job(
        store,
        workspace,
        """
version: 1
name: undo
on_failure: rollback
steps:
  - id: change
    run: echo changed > a.txt && touch b.txt
  - id: boom
    run: exit 1
""",
    )
    outcome = run_job(job, deps(store))
    assert outcome.state == "failed"
    assert (workspace / "a.txt").read_text() == "original\n"
    assert not (workspace / "b.txt").exists()
    types = [e.type for e in store.read_events(job)]
    assert types.index("rollback") < types.index("job_failed")


def test_the_database_inside_the_workspace_is_not_a_change(tmp_path):
    workspace = tmp_path
    store = SQLiteStore(workspace / "inside.db")
    job = make_job(
        store, workspace, "version: 1\nname: d\nsteps:\n  - id: a\n    run: echo hi > hi.txt\n"
    )
    assert run_job(job, deps(store)).state == "succeeded"
    paths = {c.path for c in collect_changes(store.read_events(job))}
    assert paths == {"hi.txt"}
