"""A git workspace's job pushes its result as a branch (issue 25, item 6's option):
`--push-branch NAME` or the recipe's `workspace: {git, ref, push}` commits what the job
changed in its clone and pushes it to the source once the job succeeds, never forced."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import EDIT_RECIPE, assert_bad_input, git, git_repo, invoke, write

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


@pytest.fixture
def bare(tmp_path) -> Path:
    """A bare repository (what a server holds) with one commit on main."""
    seed = git_repo(tmp_path / "seed")
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(origin))
    return origin


def test_a_succeeding_job_pushes_its_changes_as_a_branch(tmp_path, bare):
    recipe = write(tmp_path / "r.yaml", EDIT_RECIPE)
    ran = invoke(
        "run", str(recipe), "--workspace", f"git+{bare}#main", "--push-branch", "agentctl/fix-1",
        "--json",
    )  # fmt: skip
    assert ran.exit_code == 0, ran.stderr
    job = json.loads(ran.stdout)
    assert job["state"] == "succeeded"
    pushed = git(bare, "rev-parse", "refs/heads/agentctl/fix-1")
    assert git(bare, "show", f"{pushed}:calc.py") == "fixed"
    assert git(bare, "show", f"{pushed}:NOTES.md") == "note"
    assert git(bare, "rev-parse", f"{pushed}^") == git(bare, "rev-parse", "main")
    assert git(bare, "show", "main:calc.py") == "broken"  # main itself is untouched
    events = [json.loads(line) for line in invoke("log", job["id"], "--json").stdout.splitlines()]
    [event] = [e for e in events if e["type"] == "workspace_pushed"]
    assert event["branch"] == "agentctl/fix-1" and event["commit"] == pushed
    assert event["files"] == 2
    assert "pushed branch agentctl/fix-1" in invoke("log", job["id"]).stdout


def test_the_recipes_push_and_a_branch_the_source_refuses(tmp_path, bare):
    """A branch that exists with other work is never forced: the job fails (`push`) and its
    changes stay in its log for `diff` and `apply`."""
    text = EDIT_RECIPE.replace("steps:", f"workspace: {{git: '{bare}', push: taken}}\nsteps:", 1)
    recipe = write(tmp_path / "r.yaml", text)
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(bare), str(other))
    (other / "calc.py").write_text("someone else's\n")
    git(other, "commit", "-qam", "theirs")
    git(other, "push", "-q", "origin", "HEAD:refs/heads/taken")
    theirs = git(bare, "rev-parse", "refs/heads/taken")

    ran = invoke("run", str(recipe), "--json")
    assert ran.exit_code == 1, ran.stderr
    job = json.loads(ran.stdout)
    assert job["state"] == "failed" and job["error"]["type"] == "push"
    assert "could not push branch taken" in job["error"]["message"]
    assert git(bare, "rev-parse", "refs/heads/taken") == theirs
    assert "+fixed" in invoke("diff", job["id"]).stdout


def test_a_job_that_changed_nothing_pushes_the_cloned_commit(tmp_path, bare):
    recipe = write(
        tmp_path / "r.yaml",
        EDIT_RECIPE.replace(
            "printf 'fixed\\n' > calc.py && printf 'note\\n' > NOTES.md", "echo same"
        ),
    )
    ran = invoke("run", str(recipe), "--workspace", f"git+{bare}", "--push-branch", "same")
    assert ran.exit_code == 0, ran.stderr
    assert git(bare, "rev-parse", "refs/heads/same") == git(bare, "rev-parse", "main")


def test_a_push_branch_needs_a_git_workspace_and_a_name_git_takes(tmp_path, bare, workspace):
    recipe = write(tmp_path / "r.yaml", EDIT_RECIPE)
    for bad in ("-x", "a..b", "has space", "x.lock"):
        ran = invoke("run", str(recipe), "--workspace", f"git+{bare}", "--push-branch", bad)
        assert_bad_input(ran, "cannot push branch")
    ran = invoke("run", str(recipe), "--workspace", str(workspace), "--push-branch", "b")
    assert_bad_input(ran, "--push-branch needs a git workspace")
    listed = invoke("jobs", "--json")
    assert json.loads(listed.stdout) == []  # nothing was recorded
