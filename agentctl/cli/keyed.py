"""`run --key KEY`: what a run does with the job its key names (made now or before).

The decision is the engine's (`engine/keys.py`); here it is carried out with `run`'s own
ways to follow, detach or queue a job, and a job that is only reported is shown as `status`
would show it, with the job's exit code.
"""

from __future__ import annotations

import json
import sys

import typer

from agentctl.engine.keys import Mode
from agentctl.store import Store


def run_keyed(
    store: Store,
    job_id: str,
    key: str,
    *,
    reused: bool,
    mode: Mode,
    json_out: bool,
    interactive: bool,
    quiet: bool,
) -> None:
    from agentctl.cli.follow import detach_and_report, follow_job, report_queued
    from agentctl.engine.keys import plan_keyed_run, wait_for_job
    from agentctl.errors import JobBusy

    plan = plan_keyed_run(store, job_id, mode=mode)
    if reused:
        what = {"run": "resuming it", "wait": "waiting for its runner"}.get(
            plan.action, "nothing is run again"
        )
        print(f"key {key!r} names job {job_id} ({plan.state}): {what}", file=sys.stderr)
    if plan.action == "report" and not reused and mode == "queue":
        report_queued(store, job_id, json_out=json_out, quiet=quiet)
        return
    if plan.action == "run" and mode == "detach":
        detach_and_report(store, job_id, json_out=json_out, quiet=quiet)
        return
    if plan.action == "run":
        try:
            follow_job(store, job_id, json_out=json_out, interactive=interactive, quiet=quiet)
        except JobBusy:
            # Another run with this key took the job first (they raced): its result is ours.
            print(f"job {job_id} is run by another process with key {key!r}; waiting for it",
                  file=sys.stderr)  # fmt: skip
            wait_for_job(store, job_id)
    elif plan.action == "wait":
        wait_for_job(store, job_id)
    _report(store, job_id, json_out=json_out, quiet=quiet, bare_id=mode in ("queue", "detach"))


def _report(store: Store, job_id: str, *, json_out: bool, quiet: bool, bare_id: bool) -> None:
    """The job as it stands, ended with its exit code (0 for a job still on its way);
    `bare_id`: `-q` prints only its id (`--queue -q` and `--detach -q`, as for a new job)."""
    from agentctl.cli.follow import final_output, print_quiet
    from agentctl.engine.jobs import describe_job
    from agentctl.engine.keys import reported_exit_code
    from agentctl.engine.run import Outcome
    from agentctl.ui.outcome import show_outcome
    from agentctl.ui.words import failure_of

    job = describe_job(store, store.get_job(job_id))
    code = reported_exit_code(job["state"])
    outcome = Outcome(job_id, job["state"], code, job.get("error"), job["pending_approvals"])
    if json_out:
        print(json.dumps(job, indent=2))
    elif quiet and bare_id:
        print(job_id)
    elif quiet:
        print_quiet(store, outcome)
    elif job["state"] in ("queued", "running"):
        print(f"job {job_id} is {job['state']}; follow it: agentctl watch {job_id}")
    else:
        show_outcome(
            outcome,
            final_output=final_output(store, job_id) if job["state"] == "succeeded" else None,
            failure=failure_of(store.read_events(job_id)) if job["state"] == "failed" else None,
        )
    raise typer.Exit(code)
