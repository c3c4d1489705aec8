"""`agentctl jobs`, `status`, `log` and `cancel`: look at jobs and stop them."""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated

import typer

from agentctl.cli import app
from agentctl.cli.options import (
    DbOption,
    DebugOption,
    JobArgument,
    JsonOption,
    open_store,
)
from agentctl.errors import UsageError


@app.command()
def jobs(
    state: Annotated[
        str | None,
        typer.Option(
            help="Only jobs in this state: running, awaiting_approval, succeeded, failed,"
            " cancelled, interrupted."
        ),
    ] = None,
    json_out: JsonOption = False,
    db: DbOption = None,
    debug: DebugOption = False,
) -> None:
    """List jobs, newest first."""
    from agentctl.engine.jobs import STATES, describe_job
    from agentctl.ui.tables import render_jobs

    if state and state not in STATES:
        raise UsageError(f"unknown state {state!r}", f"use one of: {', '.join(STATES)}")
    store = open_store(db)
    # `running` in the row may mean a dead runner: filter on the state as described.
    listed = [
        describe_job(store, job)
        for job in store.list_jobs(state=None if state in ("running", "interrupted") else state)
    ]
    if state:
        listed = [job for job in listed if job["state"] == state]
    if json_out:
        print(json.dumps(listed, indent=2))
    else:
        render_jobs(listed)


@app.command()
def status(
    job: JobArgument, json_out: JsonOption = False, db: DbOption = None, debug: DebugOption = False
) -> None:
    """One job: its state, steps, pending approvals and usage."""
    from agentctl.engine.jobs import describe_job
    from agentctl.ui.tables import render_status

    store = open_store(db)
    described = describe_job(store, store.get_job(store.find_job(job)))
    if json_out:
        print(json.dumps(described, indent=2))
    else:
        render_status(described)


@app.command()
def log(
    job: JobArgument,
    json_out: Annotated[
        bool, typer.Option("--json", help="One JSON event per line (JSON Lines).")
    ] = False,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events until the job stops.")
    ] = False,
    db: DbOption = None,
    debug: DebugOption = False,
) -> None:
    """The job's audit history, event by event."""
    from agentctl.engine.jobs import effective_state
    from agentctl.times import iso_time
    from agentctl.ui.plain import format_event_line

    store = open_store(db)
    job_id = store.find_job(job)
    seq = 0
    while True:
        for event in store.read_events(job_id, after_seq=seq):
            seq = event.seq
            if json_out:
                print(
                    json.dumps(
                        {
                            "seq": event.seq,
                            "ts": iso_time(event.ts),
                            "type": event.type,
                            "step": event.step,
                            **event.data,
                        },
                        ensure_ascii=False,
                    )
                )
            else:
                line = format_event_line(event.seq, event.ts, event.type, event.step, event.data)
                if line:
                    print(f"{event.seq:>5} {line}")
        sys.stdout.flush()
        if not follow or effective_state(store.get_job(job_id)) != "running":
            if follow and store.read_events(job_id, after_seq=seq, limit=1):
                continue
            return
        time.sleep(0.2)


@app.command()
def cancel(job: JobArgument, db: DbOption = None, debug: DebugOption = False) -> None:
    """Stop a job. A running runner stops at its next safe point and kills a running tool."""
    from agentctl.engine.jobs import cancel_job

    store = open_store(db)
    job_id = store.find_job(job)
    state = cancel_job(store, job_id)
    if state == "cancelled":
        print(f"job {job_id} cancelled")
    else:
        print(f"cancel requested; job {job_id} is {state} and stops at its next safe point")


@app.command()
def prune(
    older_than: Annotated[
        str, typer.Option("--older-than", help="Age of the last change, e.g. 30d, 12h, 90m.")
    ] = "30d",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking.")] = False,
    db: DbOption = None,
    debug: DebugOption = False,
) -> None:
    """Delete finished jobs (succeeded, failed, cancelled) and their logs.

    Jobs that are running, waiting for approval or resumable are never pruned.
    """
    from agentctl.cli.options import is_interactive
    from agentctl.engine.jobs import prune_jobs
    from agentctl.recipe.schema import parse_duration

    try:
        seconds = parse_duration(older_than)
    except ValueError as error:
        raise UsageError(
            f"--older-than {older_than!r}: {error}", "give an age such as 30d, 12h or 90m"
        ) from None
    store = open_store(db)
    ids, _ = prune_jobs(store, older_than=seconds, delete=False)
    if not ids:
        print(f"no finished jobs older than {older_than}")
        return
    if not yes:
        if not is_interactive(False):
            raise UsageError(
                f"{len(ids)} finished job(s) older than {older_than} would be deleted",
                "pass --yes to delete them",
            )
        if not typer.confirm(f"delete {len(ids)} finished job(s) older than {older_than}?"):
            raise typer.Exit(1)
    ids, blobs = prune_jobs(store, older_than=seconds, delete=True)
    print(f"deleted {len(ids)} job(s) and {blobs} stored output(s)")
