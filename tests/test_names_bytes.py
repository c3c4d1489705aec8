"""File names that are not UTF-8 (observed: `list_files` over `caf\\xe9.txt` wedged the job in a
UnicodeEncodeError from the store, `diff` left such a file out and `rollback` left it behind):
they are listed, recorded, diffed and rolled back like any other name, and shown escaped."""

from __future__ import annotations

import json
import os

import pytest
from conftest import deps, invoke, make_job
from scripted import ScriptedModel, tool_call

from agentctl.changes.history import render_diff
from agentctl.engine.rollback import diff_job, rollback_job
from agentctl.engine.run import run_job
from agentctl.visible import make_visible

RAW = b"caf\xe9.txt"
NAME = os.fsdecode(RAW)  # 'caf\udce9.txt'

# A command that writes `caf\xe9.txt` (bytes) in the workspace: data, passed as argv.
WRITE_RAW = "python3 -c \"open(b'caf\\\\xe9.txt', 'wb').write(b'new\\\\n')\""


def approve(request):
    return "approve"


AGENT = """
version: 1
name: names
steps:
  - id: look
    agent:
      instructions: Look around, then make a file.
      tools: [list_files, read_file, shell]
"""


@pytest.fixture
def bytes_workspace(workspace):
    with open(os.fsencode(workspace) + b"/" + RAW, "wb") as file:
        file.write(b"old\n")
    return workspace


def test_list_files_over_a_name_that_is_not_utf8_does_not_wedge_the_job(store, bytes_workspace):
    model = ScriptedModel([[tool_call("list_files")], "done"])
    job = make_job(store, bytes_workspace, AGENT)
    outcome = run_job(job, deps(store, model))
    assert outcome.state == "succeeded", outcome.error
    listing = model.calls[1]["messages"][-1]["content"]
    assert "caf\\xe9.txt" in listing  # the model is shown the name escaped


def test_a_file_made_with_such_a_name_is_diffed_and_rolled_back(store, workspace):
    model = ScriptedModel([[tool_call("shell", command=WRITE_RAW)], "done"])
    job = make_job(store, workspace, AGENT)
    assert run_job(job, deps(store, model, approver=approve)).state == "succeeded"
    assert os.path.exists(os.fsencode(workspace) + b"/" + RAW)
    changes = diff_job(store, job)
    assert [(c.path, c.kind) for c in changes] == [(NAME, "created")]
    text = render_diff(changes, color=False)
    assert "+new" in make_visible(text) and "caf\\xe9.txt" in make_visible(text)
    shown = invoke("diff", job, "--db", str(store.path))
    assert shown.exit_code == 0, shown.stderr
    assert "b/caf\\xe9.txt" in shown.stdout and "+new" in shown.stdout
    report = rollback_job(store, job)
    assert report["conflicts"] == []
    assert not os.path.exists(os.fsencode(workspace) + b"/" + RAW)


def test_a_changed_file_with_such_a_name_is_restored(store, bytes_workspace):
    model = ScriptedModel([[tool_call("shell", command=WRITE_RAW)], "done"])
    job = make_job(store, bytes_workspace, AGENT)
    assert run_job(job, deps(store, model, approver=approve)).state == "succeeded"
    assert [c.kind for c in diff_job(store, job)] == ["modified"]
    rollback_job(store, job)
    with open(os.fsencode(bytes_workspace) + b"/" + RAW, "rb") as file:
        assert file.read() == b"old\n"


def test_people_see_the_bytes_escaped():
    assert make_visible(NAME) == "caf\\xe9.txt"
    assert make_visible("café") == "café"


def test_every_command_shows_such_a_job_without_failing(store, workspace):
    model = ScriptedModel(
        [[tool_call("shell", command=WRITE_RAW)], [tool_call("list_files")], "ok"]
    )
    job = make_job(store, workspace, AGENT)
    assert run_job(job, deps(store, model, approver=approve)).state == "succeeded"
    db = ["--db", str(store.path)]
    for args in (["log", job], ["log", job, "--json"], ["diff", job, "--json"], ["status", job]):
        result = invoke(*args, *db)
        assert result.exit_code == 0, (args, result.stderr)
    as_json = json.loads(invoke("diff", job, "--json", *db).stdout)
    assert os.fsencode(as_json[0]["path"]) == RAW  # scripts get the bytes back
    preview = invoke("rollback", job, "--dry-run", *db)
    assert preview.exit_code == 0 and "caf\\xe9.txt" in preview.stdout, preview.stderr
    done = invoke("rollback", job, "--yes", "--json", *db)
    assert done.exit_code == 0, done.stderr
    assert not os.path.exists(os.fsencode(workspace) + b"/" + RAW)
