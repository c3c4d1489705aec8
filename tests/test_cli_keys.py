"""Nothing runs twice by accident: `run --key KEY` (a second run with a key already used gets
the job that has it, repeats nothing, and ends with that job's exit code; concurrent runs with
one key make one job), and an agent's identical repeat of a changing action asks first."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import agentctl, assert_bad_input, invoke, start_agentctl, write

from agentctl.store import open_store


@pytest.fixture
def recipe(tmp_path) -> Path:
    return write(
        tmp_path / "append.yaml",
        """\
version: 1
name: append
steps:
  - id: once
    run: echo effect >> side.txt
  - id: ok
    approval: Go on?
  - id: after
    run: echo after >> side.txt
""",
    )


def run_keyed(recipe: Path, workspace: Path, key: str, *extra: str):
    return invoke("run", str(recipe), "--workspace", str(workspace), "--key", key, "--json", *extra)


@pytest.mark.slow
def test_a_rerun_with_the_same_key_returns_the_job_and_repeats_nothing(recipe, workspace):
    first = run_keyed(recipe, workspace, "ci-41-build", "--non-interactive")
    assert first.exit_code == 3, first.stderr  # parked at the approval
    job = json.loads(first.stdout)
    assert job["key"] == "ci-41-build"
    again = run_keyed(recipe, workspace, "ci-41-build", "--non-interactive")
    assert again.exit_code == 3, again.stderr
    assert json.loads(again.stdout)["id"] == job["id"]
    assert f"key 'ci-41-build' names job {job['id']}" in again.stderr
    assert (workspace / "side.txt").read_text() == "effect\n"  # the first step ran once
    assert invoke("approve", job["id"]).exit_code == 0
    # The re-run after the approval resumes the job: only what is left runs.
    resumed = run_keyed(recipe, workspace, "ci-41-build")
    assert resumed.exit_code == 0, resumed.stderr
    assert json.loads(resumed.stdout)["state"] == "succeeded"
    assert (workspace / "side.txt").read_text() == "effect\nafter\n"
    # A finished job is only reported, with its exit code.
    done = run_keyed(recipe, workspace, "ci-41-build")
    assert done.exit_code == 0 and "nothing is run again" in done.stderr
    assert (workspace / "side.txt").read_text() == "effect\nafter\n"
    listed = json.loads(invoke("jobs", "--json").stdout)
    assert [j["id"] for j in listed] == [job["id"]] and listed[0]["key"] == "ci-41-build"
    status = invoke("status", job["id"])
    assert "key        ci-41-build" in status.stdout


def test_a_failed_keyed_job_keeps_failing_with_its_exit_code_and_is_not_rerun(tmp_path, workspace):
    failing = write(
        tmp_path / "fail.yaml",
        "version: 1\nname: fail\nsteps:\n  - id: boom\n    run: echo x >> side.txt; exit 3\n",
    )
    assert run_keyed(failing, workspace, "k").exit_code == 1
    again = run_keyed(failing, workspace, "k")
    assert again.exit_code == 1 and json.loads(again.stdout)["state"] == "failed"
    assert (workspace / "side.txt").read_text() == "x\n"
    human = invoke("run", str(failing), "--workspace", str(workspace), "--key", "k")
    assert human.exit_code == 1 and "failed" in human.stdout


def test_queued_and_detached_runs_with_a_key_are_deduplicated(recipe, workspace):
    queued = run_keyed(recipe, workspace, "nightly-7", "--queue")
    assert queued.exit_code == 0, queued.stderr
    job = json.loads(queued.stdout)
    assert job["state"] == "queued" and job["key"] == "nightly-7"
    again = run_keyed(recipe, workspace, "nightly-7", "--queue")
    assert again.exit_code == 0 and json.loads(again.stdout)["id"] == job["id"]
    assert len(json.loads(invoke("jobs", "--json").stdout)) == 1
    assert not (workspace / "side.txt").exists()  # queued, not run


def test_queue_quiet_with_a_key_prints_the_bare_id_first_time_and_again(recipe, workspace):
    """SPEC: `--queue -q` prints the bare id, so `JOB=$(agentctl run R --key K --queue -q)`
    holds the job's id whether the key is new or names a job already (it printed the two
    human lines for a new key, and nothing on stdout for a reused one)."""
    args = ["run", str(recipe), "--workspace", str(workspace), "--key", "q-1", "--queue", "-q"]
    first = invoke(*args)
    assert first.exit_code == 0, first.stderr
    job = first.stdout.strip()
    assert first.stdout == job + "\n" and " " not in job
    assert json.loads(invoke("status", job, "--json").stdout)["state"] == "queued"
    again = invoke(*args)
    assert again.exit_code == 0, again.stderr
    assert again.stdout == job + "\n"
    assert f"key 'q-1' names job {job}" in again.stderr


def test_a_key_nobody_could_type_again_is_refused(recipe, workspace):
    for bad in ("", "   ", "a\nb", "x" * 201):
        assert_bad_input(run_keyed(recipe, workspace, bad), "--key")
    assert json.loads(invoke("jobs", "--json").stdout) == []


def _step_running(db: Path, step: str) -> bool:
    if not db.exists():
        return False
    store = open_store(str(db))
    try:
        jobs = store.list_jobs()
        steps = {s["id"]: s["state"] for s in jobs[0]["steps"]} if jobs else {}
        return steps.get(step) == "running"
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.e2e
def test_a_rerun_resumes_a_keyed_job_whose_runner_was_killed(tmp_path, workspace):
    slow = write(
        tmp_path / "slow.yaml",
        """\
version: 1
name: slow
steps:
  - id: first
    run: echo first >> side.txt
  - id: wait
    run: sleep 2
  - id: last
    run: echo last >> side.txt
""",
    )
    db = tmp_path / "agentctl.db"
    args = ["run", str(slow), "--workspace", str(workspace), "--key", "k9"]
    runner = start_agentctl([*args, "--non-interactive"], db, tmp_path)
    try:
        for _ in range(400):
            if (workspace / "side.txt").exists() and _step_running(db, "wait"):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the job never reached its second step")
    finally:
        runner.kill()
        runner.wait()
    again = agentctl([*args, "--json"], db, tmp_path)
    # Resumed: the first step is not run again; the one the runner died in is uncertain, so
    # it waits for a person (exit 3 with the approve command) instead of running twice.
    assert again.returncode == 3, again.stderr
    assert "resuming it" in again.stderr
    job = json.loads(again.stdout)
    assert "uncertain" in job["pending_approvals"][0]["reason"]
    assert agentctl(["approve", job["id"]], db, tmp_path).returncode == 0
    done = agentctl([*args, "--json"], db, tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["id"] == job["id"]
    assert (workspace / "side.txt").read_text() == "first\nlast\n"


@pytest.mark.slow
@pytest.mark.e2e
def test_two_concurrent_runs_with_one_key_make_one_job_and_one_effect(tmp_path, workspace):
    recipe = write(
        tmp_path / "race.yaml",
        "version: 1\nname: race\nsteps:\n  - id: one\n    run: sleep 1; echo once >> side.txt\n",
    )
    db = tmp_path / "agentctl.db"
    args = ["run", str(recipe), "--workspace", str(workspace), "--key", "race", "--json"]
    agentctl(["jobs"], db, tmp_path)  # the database exists before the race
    racers = [start_agentctl(args, db, tmp_path) for _ in range(3)]
    results = [(*p.communicate(timeout=60), p.returncode) for p in racers]
    for _, err, code in results:
        assert code == 0, err
    ids = {json.loads(out)["id"] for out, _, _ in results}
    assert len(ids) == 1
    listed = json.loads(agentctl(["jobs", "--json"], db, tmp_path).stdout)
    assert [j["id"] for j in listed] == list(ids)
    assert (workspace / "side.txt").read_text() == "once\n"


@pytest.mark.slow
@pytest.mark.e2e
def test_an_agents_identical_repeat_parks_with_the_reason_and_the_approve_command(
    tmp_path, workspace
):
    from fakeserver import ScriptedOpenAIServer

    same = {"tool_calls": [{"name": "shell", "arguments": {"command": "echo same >> side.txt"}}]}
    with ScriptedOpenAIServer([same, same, same, same, {"content": "done"}]) as server:
        recipe = write(
            tmp_path / "loop.yaml",
            f"""\
version: 1
name: loop
models:
  default: {{model: openai/fake-model, api_base: "{server.base_url}", api_key_env: FAKE_KEY}}
steps:
  - id: write
    agent:
      instructions: Append a line.
      tools: [shell]
""",
        )
        policy = write(
            tmp_path / "p.yaml",
            "version: 1\nname: p\ndefault: allow\nsandbox: off\nrules: []\n",
        )
        args = ["run", str(recipe), "--workspace", str(workspace), "--policy", str(policy)]
        parked = agentctl(args, tmp_path / "agentctl.db", tmp_path, FAKE_KEY="k")
    assert parked.returncode == 3, parked.stderr
    assert (workspace / "side.txt").read_text() == "same\n"  # not 4 times
    assert "the same action already ran at step write (write/t0/c0)" in parked.stdout
    assert "agentctl approve" in parked.stdout
