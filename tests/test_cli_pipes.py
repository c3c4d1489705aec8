"""Output nobody reads: a closed pipe on stdout or stderr never changes the job."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import agentctl_env
from test_cli_jobs import agentctl, write_recipe

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

STEPS = "".join(f"  - id: s{i}\n    run: echo line {i}\n" for i in range(8))


@pytest.mark.parametrize("json_out", [False, True])
def test_a_closed_pipe_leaves_the_job_to_end_as_it_really_ends(tmp_path, workspace, json_out):
    # `agentctl run R 2>&1 | head -0`: every line the runner prints meets a closed pipe.
    db = tmp_path / "a.db"
    recipe = write_recipe(tmp_path, STEPS)
    argv = [sys.executable, "-m", "agentctl", "run", str(recipe), "--workspace", str(workspace)]
    process = subprocess.Popen(
        argv + (["--json"] if json_out else []),
        env=agentctl_env(db),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert process.stdout is not None
    process.stdout.close()  # the reader went away before the first line
    assert process.wait(timeout=60) == 0  # the job's own exit code: it succeeded
    status = agentctl(["status", "last", "--json"], db, tmp_path)
    job = json.loads(status.stdout)
    assert job["state"] == "succeeded", job
    assert [s["state"] for s in job["steps"]] == ["succeeded"] * 8
