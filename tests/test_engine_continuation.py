"""Who goes on with a job once its approvals are decided (engine/continuation.py), and the
detached runner's wait (engine/approvals.decision_waiter), in one process; the same with real
processes and signals is tests/test_approval_continues.py."""

from __future__ import annotations

import threading
import time

from scripted import ScriptedModel
from test_engine import deps

from agentctl.engine.approvals import decide_approval
from agentctl.engine.continuation import continue_after_decision, who_goes_on
from agentctl.engine.jobs import cancel_job, create_job
from agentctl.engine.run import run_job
from agentctl.recipe.load import load_recipe_text
from agentctl.recipe.params import parse_params

GATES = "version: 1\nname: g\nsteps:\n  - id: one\n    approval: Go?\n"


def job_of(store, workspace, queue: str | None = None) -> str:
    loaded = load_recipe_text(GATES, str(workspace / "r.yaml"), base_dir=workspace)
    return create_job(
        store, loaded, params=parse_params(loaded.recipe, []), workspace=workspace, options={},
        queue=queue,
    )  # fmt: skip


def approve(store, job: str) -> None:
    decide_approval(store, job, None, "approve", by="t (uid 1)", comment=None, now=time.time())


def no_restart(store, job):
    raise AssertionError("nothing may be started for this job")


def test_a_foreground_job_waits_for_resume_and_nothing_starts(store, workspace):
    job = job_of(store, workspace)
    assert run_job(job, deps(store)).state == "awaiting_approval"
    assert who_goes_on(store, job).kind == "pending"
    approve(store, job)
    assert continue_after_decision(store, job, restart=no_restart).kind == "resume"


def test_a_queued_job_goes_to_a_worker_of_its_queue(store, workspace):
    job = job_of(store, workspace, queue="nightly")
    assert run_job(job, deps(store)).state == "awaiting_approval"
    approve(store, job)
    step = continue_after_decision(store, job, restart=no_restart)
    assert (step.kind, step.queue) == ("worker", "nightly")


def run_in_thread(store, job) -> tuple[threading.Thread, list]:
    outcomes: list = []
    runner = threading.Thread(
        target=lambda: outcomes.append(run_job(job, deps(store, ScriptedModel([]), detached=True)))
    )
    runner.start()
    deadline = time.monotonic() + 10
    while not store.list_approvals(job, state="pending"):
        assert time.monotonic() < deadline, "the gate never asked"
        time.sleep(0.02)
    return runner, outcomes


def test_a_detached_runner_waits_for_the_decision_and_goes_on(store, workspace):
    job = job_of(store, workspace)
    runner, outcomes = run_in_thread(store, job)
    time.sleep(0.3)
    # Still held by this runner (its state may say it waits at a prompt; the lease says who).
    assert runner.is_alive() and store.get_job(job)["lease_pid"] is not None
    assert who_goes_on(store, job).kind == "runner"
    approve(store, job)
    runner.join(timeout=10)
    assert outcomes[0].state == "succeeded"
    [started] = [e for e in store.read_events(job) if e.type == "runner_started"]
    assert started.data["detached"] is True


def test_a_cancel_ends_the_wait_and_the_job(store, workspace):
    job = job_of(store, workspace)
    runner, outcomes = run_in_thread(store, job)
    assert cancel_job(store, job, wait=10) == "cancelled"
    runner.join(timeout=10)
    assert not runner.is_alive() and outcomes[0].state == "cancelled"


def parked_in_background(store, workspace) -> str:
    """A job whose background runner is gone: it ran detached and stopped at the gate."""
    job = job_of(store, workspace)
    nobody = deps(store, ScriptedModel([]), detached=True, approver=lambda request: None)
    assert run_job(job, nobody).state == "awaiting_approval"
    return job


def test_a_background_job_whose_runner_is_gone_is_started_again(store, workspace):
    job = parked_in_background(store, workspace)
    assert who_goes_on(store, job).kind == "pending"
    approve(store, job)
    started: list[str] = []

    def restart(store, job_id):
        started.append(job_id)
        return 4242, workspace / "job.log"

    step = continue_after_decision(store, job, restart=restart)
    assert (step.kind, step.pid, started) == ("restarted", 4242, [job])


def test_a_background_job_whose_folder_is_elsewhere_is_left_to_resume_there(store, workspace):
    job = parked_in_background(store, workspace)
    approve(store, job)
    workspace.rename(workspace.with_name("moved"))
    assert continue_after_decision(store, job, restart=no_restart).kind == "resume"
