"""Workspaces without a shared disk (issue 25): `--workspace git+URL#REV` (or the recipe's
`workspace: {git, ref}`) clones the repository for the job on the machine that runs it; the
change set lives in the database, so `diff` and `apply` work where the user is."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import EDIT_RECIPE, agentctl, git, git_repo, invoke, write

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


@pytest.fixture
def repo(tmp_path) -> Path:
    folder = git_repo(tmp_path / "repo")
    git(folder, "checkout", "-qb", "feature")
    (folder / "calc.py").write_text("feature\n")
    git(folder, "commit", "-qam", "feature")
    git(folder, "checkout", "-q", "main")
    return folder


def test_a_git_workspace_is_cloned_for_the_job_and_the_source_is_untouched(tmp_path, repo):
    recipe = write(tmp_path / "r.yaml", EDIT_RECIPE)
    ran = invoke("run", str(recipe), "--workspace", f"git+{repo}#main", "--json")
    assert ran.exit_code == 0, ran.stderr
    job = json.loads(ran.stdout)
    clone = Path(job["workspace"])
    assert clone.parent == tmp_path / "workspaces"  # beside the database, not in the repo
    assert (clone / "calc.py").read_text() == "fixed\n"
    assert (repo / "calc.py").read_text() == "broken\n"  # the source never changes
    log = invoke("log", job["id"]).stdout
    assert "workspace: cloned" in log and str(repo) in log
    diff = invoke("diff", job["id"]).stdout
    assert "+fixed" in diff and "NOTES.md" in diff
    # ... and `apply` lands it in the user's own checkout
    mine = tmp_path / "mine"
    git(tmp_path, "clone", "-q", str(repo), str(mine))
    applied = invoke("apply", job["id"], "--to", str(mine))
    assert applied.exit_code == 0, applied.stderr
    assert (mine / "calc.py").read_text() == "fixed\n" and (mine / "NOTES.md").is_file()


def test_a_branch_of_the_remote_and_the_recipes_own_workspace(tmp_path, repo):
    recipe = write(
        tmp_path / "r.yaml",
        EDIT_RECIPE.replace(
            "steps:", f"workspace: {{git: '{repo}', ref: feature}}\nsteps:", 1
        ).replace("printf 'fixed\\n' > calc.py && ", "cp calc.py seen.txt && "),
    )
    ran = invoke("run", str(recipe), "--json")
    assert ran.exit_code == 0, ran.stderr
    clone = Path(json.loads(ran.stdout)["workspace"])
    assert (clone / "seen.txt").read_text() == "feature\n"


def test_a_queued_git_job_runs_on_a_worker_with_no_copy_of_the_folder(tmp_path, repo):
    db = str(tmp_path / "a.db")
    recipe = write(tmp_path / "r.yaml", EDIT_RECIPE)
    queued = agentctl(
        ["run", str(recipe), "--workspace", f"git+{repo}", "--queue", "--json"], db, tmp_path
    )
    assert queued.returncode == 0, queued.stderr
    job = json.loads(queued.stdout)["id"]
    worked = agentctl(["worker", "--once"], db, tmp_path)
    assert worked.returncode == 0, worked.stderr
    status = json.loads(agentctl(["status", job, "--json"], db, tmp_path).stdout)
    assert status["state"] == "succeeded"
    assert (Path(status["workspace"]) / "calc.py").read_text() == "fixed\n"


def test_a_bad_source_is_said_before_anything_runs(tmp_path):
    recipe = write(tmp_path / "r.yaml", EDIT_RECIPE)
    ran = invoke("run", str(recipe), "--workspace", f"git+{tmp_path / 'nope'}")
    assert ran.exit_code != 0
    assert "git clone failed" in ran.stderr and "hint:" in ran.stderr
    assert invoke("run", str(recipe), "--workspace", "git+").exit_code == 2
