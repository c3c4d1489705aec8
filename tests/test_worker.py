"""Queues and workers, end to end on each backend: `run --queue`, `worker`, a missing
workspace, SIGTERM, a worker SIGKILLed mid-job, four workers draining 200 jobs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import agentctl, start_agentctl

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

TWO_STEPS = """version: 1
name: two-steps
steps:
  - id: a
    run: echo one >> effects.log
  - id: b
    run: sleep {sleep} && echo two >> effects.log
"""


def start_worker(args, *, db: str, cwd: Path) -> subprocess.Popen:
    return start_agentctl(["worker", *args], db, cwd)


def status(db: str, cwd: Path, job: str = "last") -> dict:
    done = agentctl(["status", job, "--json"], db=db, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def events(db: str, cwd: Path, job: str = "last") -> list[dict]:
    done = agentctl(["log", job, "--json"], db=db, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def queue_job(tmp_path: Path, db: str, recipe_text: str, *extra: str) -> str:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(recipe_text)
    (tmp_path / "ws").mkdir(exist_ok=True)
    queued = agentctl(
        ["run", str(recipe), "--workspace", str(tmp_path / "ws"), *extra, "--json"],
        db=db,
        cwd=tmp_path,
    )
    assert queued.returncode == 0, queued.stderr
    return json.loads(queued.stdout)["id"]


def finish_with_workers(db: str, cwd: Path, job: str, *args: str) -> dict:
    """Run `worker --once` until the job ends, approving the re-run of an action a dead
    runner left uncertain (its effect never happened in these tests)."""
    for _ in range(4):
        done = agentctl(["worker", "--once", *args], db=db, cwd=cwd)
        described = status(db, cwd, job)
        parked = described["state"] == "awaiting_approval"
        assert done.returncode == (3 if parked else 0), done.stderr  # 3: it left one parked
        if not parked:
            return described
        [request] = described["pending_approvals"]
        assert "uncertain" in request["reason"]
        approved = agentctl(["approve", job, request["request"]], db=db, cwd=cwd)
        assert approved.returncode == 0, approved.stderr
    return status(db, cwd, job)


def test_run_queue_records_the_job_and_a_worker_of_that_queue_runs_it(tmp_path, db_target):
    job = queue_job(tmp_path, db_target, TWO_STEPS.format(sleep=0), "--queue")
    described = status(db_target, tmp_path, job)
    assert (described["state"], described["queue"]) == ("queued", "default")
    assert not (tmp_path / "ws" / "effects.log").exists()  # returned at once, ran nothing
    other = queue_job(tmp_path, db_target, TWO_STEPS.format(sleep=0), "--queue", "nightly")
    done = agentctl(["worker", "--once"], db=db_target, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert status(db_target, tmp_path, job)["state"] == "succeeded"
    assert status(db_target, tmp_path, other)["state"] == "queued"  # not its queue
    done = agentctl(["worker", "--once", "--queue", "nightly"], db=db_target, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert status(db_target, tmp_path, other)["state"] == "succeeded"
    assert (tmp_path / "ws" / "effects.log").read_text().split() == ["one", "two"] * 2
    runners = [e for e in events(db_target, tmp_path, job) if e["type"] == "runner_started"]
    assert len(runners) == 1


def test_a_worker_leaves_a_job_whose_workspace_is_missing_here(tmp_path, db_target):
    job = queue_job(tmp_path, db_target, TWO_STEPS.format(sleep=0), "--queue")
    (tmp_path / "ws").rename(tmp_path / "elsewhere")
    done = agentctl(["worker", "--once"], db=db_target, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    described = status(db_target, tmp_path, job)
    assert described["state"] == "queued"  # not failed: left for a worker that has it
    [seen] = described["workers"]
    assert "missing" in seen["note"] and str(tmp_path / "ws") in seen["note"]
    shown = agentctl(["status", job], db=db_target, cwd=tmp_path)
    assert "missing" in shown.stdout
    (tmp_path / "elsewhere").rename(tmp_path / "ws")
    assert finish_with_workers(db_target, tmp_path, job)["state"] == "succeeded"


def test_a_job_whose_workspace_no_worker_has_fails_after_the_wait_naming_it(tmp_path, db_target):
    """It used to stay queued for ever, claimed and released by every worker, with no alert."""
    job = queue_job(tmp_path, db_target, TWO_STEPS.format(sleep=0), "--queue")
    (tmp_path / "ws").rename(tmp_path / "elsewhere")
    time.sleep(1.2)
    done = agentctl(["worker", "--once", "--workspace-wait", "1"], db=db_target, cwd=tmp_path)
    assert done.returncode == 1, done.stderr  # a job it took failed
    described = status(db_target, tmp_path, job)
    assert described["state"] == "failed"
    assert described["error"]["type"] == "workspace"
    assert str(tmp_path / "ws") in described["error"]["message"]
    assert "within 1 s" in described["error"]["message"]
    shown = agentctl(["status", job], db=db_target, cwd=tmp_path)
    assert str(tmp_path / "ws") in shown.stdout + shown.stderr


def wait_for(predicate, timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def step_b_started(db: str, cwd: Path, job: str) -> bool:
    return any(e["type"] == "step_started" and e["step"] == "b" for e in events(db, cwd, job))


def test_sigterm_stops_claiming_and_leaves_the_running_job_for_another_worker(tmp_path, db_target):
    job = queue_job(tmp_path, db_target, TWO_STEPS.format(sleep=30), "--queue")
    later = queue_job(tmp_path, db_target, TWO_STEPS.format(sleep=0), "--queue")
    worker = start_worker([], db=db_target, cwd=tmp_path)
    try:
        wait_for(lambda: step_b_started(db_target, tmp_path, job), what="step b")
        started = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, err
    assert time.monotonic() - started < 20  # it did not wait for the 30 s sleep
    assert status(db_target, tmp_path, job)["state"] == "interrupted"
    assert status(db_target, tmp_path, later)["state"] == "queued"  # never claimed
    effects = tmp_path / "ws" / "effects.log"
    assert effects.read_text().split() == ["one"]
    # Step b's command was killed by the runner on SIGTERM, so it is recorded as stopped, not
    # left uncertain: another worker runs it again without an approval, and finishes both.
    stopped = [e for e in events(db_target, tmp_path, job) if e["type"] == "action_finished"]
    assert stopped[-1]["error"] == "stopped" and "SIGTERM" in stopped[-1]["stopped_by"]
    assert finish_with_workers(db_target, tmp_path, job)["state"] == "succeeded"
    assert finish_with_workers(db_target, tmp_path, later)["state"] == "succeeded"


def test_a_worker_killed_mid_job_is_replaced_once_its_lease_expires(tmp_path, db_target):
    job = queue_job(tmp_path, db_target, TWO_STEPS.format(sleep=4), "--queue")
    worker = start_worker(["--lease", "2"], db=db_target, cwd=tmp_path)
    try:
        wait_for(lambda: step_b_started(db_target, tmp_path, job), what="step b")
        runner_pid = status(db_target, tmp_path, job)["runner"]["pid"]
        worker.send_signal(signal.SIGKILL)  # a machine that died: no clean-up at all
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    # Its runner dies with it (it never outlives its worker).
    wait_for(lambda: not os.path.exists(f"/proc/{runner_pid}"), 10, "the runner to die")
    time.sleep(2.5)  # the lease expires
    described = finish_with_workers(db_target, tmp_path, job, "--lease", "2")
    assert described["state"] == "succeeded"
    assert (tmp_path / "ws" / "effects.log").read_text().split() == ["one", "two"]
    log = events(db_target, tmp_path, job)
    assert [e["seq"] for e in log] == list(range(1, len(log) + 1))  # nothing written twice
    finished = [e["key"] for e in log if e["type"] == "action_finished"]
    assert len(finished) == len(set(finished)) == 2


@pytest.mark.timeout(900)
def test_four_workers_drain_200_jobs_none_twice_none_lost_none_stuck(tmp_path, db_target):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "version: 1\nname: tick\nparams: {n: {type: integer, required: true}}\n"
        "steps:\n  - id: a\n    run: echo {{ params.n }} >> effects.log\n"
    )
    ws = tmp_path / "ws"
    ws.mkdir()
    _queue_directly(db_target, recipe, ws, 200)
    workers = [start_worker(["--once"], db=db_target, cwd=tmp_path) for _ in range(4)]
    try:
        results = [w.communicate(timeout=840) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    assert [w.returncode for w in workers] == [0] * 4, results
    listed = agentctl(["jobs", "--json"], db=db_target, cwd=tmp_path)
    jobs = json.loads(listed.stdout)
    assert len(jobs) == 200 and {j["state"] for j in jobs} == {"succeeded"}
    assert sorted(int(n) for n in (ws / "effects.log").read_text().split()) == list(range(200))
    ran_by = [line for _, err in results for line in err.splitlines() if ": running" in line]
    assert len(ran_by) == 200  # each claimed once in all
    assert sum(1 for _, err in results if ": running" in err) >= 2  # the work was shared


def _queue_directly(db: str, recipe: Path, ws: Path, count: int) -> None:
    """Queue many jobs at the engine level (the CLI costs a process per job)."""
    from agentctl.engine.jobs import create_job
    from agentctl.recipe.load import load_recipe
    from agentctl.store import open_store

    store = open_store(db)
    loaded = load_recipe(str(recipe))
    for n in range(count):
        # Jobs made to run side by side in one folder (each appends its own line): shared.
        create_job(
            store,
            loaded,
            params={"n": n},
            workspace=ws,
            options={"policies": []},
            queue="default",
            shared_workspace=True,
        )
    store.close()
