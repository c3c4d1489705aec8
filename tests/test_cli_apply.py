"""`agentctl apply JOB`: a job's file changes landed in another checkout, like `git apply`."""

from __future__ import annotations

import json
import shutil

from conftest import invoke, write

RECIPE = """version: 1
name: edits
steps:
  - id: edit
    run: >-
      printf 'new\\n' > added.txt && printf 'changed\\n' > kept.txt && rm gone.txt
      && mv old-name.txt new-name.txt && mkdir -p sub && printf 'deep\\n' > sub/deep.txt
"""


def _start(folder):
    folder.mkdir()
    (folder / "kept.txt").write_text("original\n")
    (folder / "gone.txt").write_text("bye\n")
    (folder / "old-name.txt").write_text("moving\n")
    return folder


def _ran_job(tmp_path) -> tuple[str, object]:
    workspace = _start(tmp_path / "ws")
    recipe = write(tmp_path / "r.yaml", RECIPE)
    checkout = tmp_path / "checkout"
    shutil.copytree(workspace, checkout)  # another checkout of the same start
    ran = invoke("run", str(recipe), "--workspace", str(workspace), "--json")
    assert ran.exit_code == 0, ran.stderr
    return json.loads(ran.stdout)["id"], checkout


def _tree(folder) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_apply_lands_the_change_set_in_another_checkout(tmp_path):
    job, checkout = _ran_job(tmp_path)
    result = invoke("apply", job, "--to", str(checkout))
    assert result.exit_code == 0, result.stderr
    assert _tree(checkout) == _tree(tmp_path / "ws")
    assert _tree(checkout) == {
        "added.txt": "new\n",
        "kept.txt": "changed\n",
        "new-name.txt": "moving\n",
        "sub/deep.txt": "deep\n",
    }
    # twice: nothing to do, every file already as the job left it
    again = invoke("apply", job, "--to", str(checkout), "--json")
    assert again.exit_code == 0
    assert {i["status"] for i in json.loads(again.stdout)["plan"]} == {"unchanged"}


def test_apply_dry_run_changes_nothing_and_says_what_it_would_write(tmp_path):
    job, checkout = _ran_job(tmp_path)
    before = _tree(checkout)
    result = invoke("apply", job, "--to", str(checkout), "--dry-run")
    assert result.exit_code == 0
    assert _tree(checkout) == before
    assert "write     added.txt" in result.stdout and "remove    gone.txt" in result.stdout


def test_a_file_that_differs_from_the_jobs_start_is_a_conflict_unless_forced(tmp_path):
    job, checkout = _ran_job(tmp_path)
    (checkout / "kept.txt").write_text("someone else's edit\n")
    result = invoke("apply", job, "--to", str(checkout))
    assert result.exit_code == 1
    assert "conflict  kept.txt: holds something other than what the job started from" in (
        result.stdout
    )
    assert (checkout / "kept.txt").read_text() == "someone else's edit\n"  # left alone
    assert (checkout / "added.txt").read_text() == "new\n"  # the rest landed
    assert "--force" in result.stderr
    forced = invoke("apply", job, "--to", str(checkout), "--force")
    assert forced.exit_code == 0, forced.stderr
    assert (checkout / "kept.txt").read_text() == "changed\n"


def test_apply_of_a_job_without_changes(tmp_path, workspace):
    recipe = write(tmp_path / "r.yaml", "version: 1\nname: r\nsteps:\n  - {id: a, run: 'true'}\n")
    ran = invoke("run", str(recipe), "--workspace", str(workspace), "--json")
    job = json.loads(ran.stdout)["id"]
    result = invoke("apply", job, "--to", str(workspace))
    assert result.exit_code == 0 and "no file changes to apply" in result.stdout
