"""Output nobody reads: a closed pipe on stdout or stderr never changes the job."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import agentctl, agentctl_env, start_agentctl, write_recipe

from agentctl.events import EventType
from agentctl.store import JobUpdate, NewEvent
from agentctl.store.sqlite import SQLiteStore

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


def _big_job(db) -> str:
    """A finished job whose log, status and listing each fill more than a pipe's buffer."""
    store = SQLiteStore(db)
    for n in range(800):
        store.create_job(
            job_id=f"job-{n:04d}-" + "x" * 40,
            recipe="a-recipe-with-a-long-name-" + "y" * 40,
            recipe_path=None,
            recipe_text="version: 1",
            params={},
            options={},
            workspace="/tmp",
            now=1_800_000_000.0 + n,
            event=NewEvent(EventType.JOB_CREATED),
        )
    job_id = "job-0799-" + "x" * 40
    warnings = [NewEvent(EventType.WARNING, "s", {"message": "w" * 150}) for _ in range(2000)]
    steps = [{"id": f"s{i}", "kind": "run", "state": "succeeded"} for i in range(6000)]
    store.append_events(
        job_id, warnings, now=1_800_000_500.0, update=JobUpdate(set={"steps": steps})
    )
    store.append_events(
        job_id,
        [NewEvent(EventType.JOB_SUCCEEDED)],
        now=1_800_000_501.0,
        update=JobUpdate(set={"state": "succeeded"}),
    )
    store.close()
    return job_id


@pytest.mark.parametrize(
    "args",
    [
        ["log", "last"],
        ["log", "last", "--json"],
        ["jobs"],
        ["jobs", "--json"],
        ["status", "last"],
        ["status", "last", "--json"],
    ],
    ids=" ".join,
)
@pytest.mark.parametrize("read_lines", [0, 1], ids=["head -0", "head -1"])
def test_a_reader_that_stops_early_ends_the_command_quietly(tmp_path, args, read_lines):
    # `agentctl log JOB | head -1`: the rest of the output meets a closed pipe.
    db = tmp_path / "a.db"
    job_id = _big_job(db)
    before = SQLiteStore(db).get_job(job_id)
    process = start_agentctl(args, db, tmp_path)
    assert process.stdout is not None and process.stderr is not None
    first = [process.stdout.readline() for _ in range(read_lines)]
    process.stdout.close()
    stderr = process.stderr.read()
    assert process.wait(timeout=60) == 0, stderr
    assert stderr == ""
    assert all(first)
    after = SQLiteStore(db).get_job(job_id)
    assert (after["state"], after["last_seq"]) == (before["state"], before["last_seq"])


def test_watch_with_a_closed_pipe_still_exits_with_the_jobs_code(tmp_path):
    db = tmp_path / "a.db"
    job_id = _big_job(db)
    store = SQLiteStore(db)
    store.append_events(job_id, [NewEvent(EventType.JOB_CANCELLED)], now=1_800_000_600.0,
                 update=JobUpdate(set={"state": "cancelled"}))  # fmt: skip
    store.close()
    process = start_agentctl(["watch", "last", "--json"], db, tmp_path)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    stderr = process.stderr.read()
    assert process.wait(timeout=60) == 4, stderr[-500:]  # cancelled, as without the pipe
    assert "error" not in stderr and "Traceback" not in stderr
