"""`agentctl jobs`, `status`, `log` and `cancel`: look at jobs and stop them."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agentctl.cli.app import app
from agentctl.cli.options import (
    DbOption,
    DebugOption,
    JobArgument,
    JsonOption,
    complete_states,
    open_store,
)
from agentctl.errors import UsageError, suggest

if TYPE_CHECKING:
    from agentctl.store.base import Event, Store


@app.command()
def jobs(
    state: Annotated[
        list[str] | None,
        typer.Option(
            help="Only jobs in this state: queued, running, awaiting_approval, succeeded, failed,"
            " cancelled, interrupted; repeat for more (or separate with commas).",
            metavar="STATE",
            autocompletion=complete_states,
        ),
    ] = None,
    recipe: Annotated[
        str | None,
        typer.Option("--recipe", help="Only jobs of the recipe with this name.", metavar="NAME"),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only jobs created since then: an age (30m, 12h, 7d) or a date (2026-01-31).",
            metavar="AGE|DATE",
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", "-n", min=1, help="At most this many jobs.", metavar="N"),
    ] = None,
    json_out: JsonOption = False,
    db: DbOption = None,
    debug: DebugOption = False,
) -> None:
    """List jobs, newest first."""
    from agentctl.engine.jobs import describe_job
    from agentctl.events import JobState
    from agentctl.ui.tables import render_jobs

    wanted = _wanted_states(state or [])
    store = open_store(db, create=False)
    # `running` in the row may mean a dead runner (interrupted) or one waiting at a person's
    # prompt (awaiting_approval): filter on the state as described.
    live = (JobState.RUNNING, JobState.INTERRUPTED, JobState.AWAITING_APPROVAL)
    only = wanted[0] if len(wanted) == 1 and wanted[0] not in live else None
    listed = [describe_job(store, job) for job in store.list_jobs(state=only)]
    if wanted:
        listed = [job for job in listed if job["state"] in wanted]
    listed = filter_jobs(listed, recipe=recipe, since=since, limit=limit)
    if json_out:
        print(json.dumps(listed, indent=2))
    elif not listed and wanted and not (recipe or since):
        render_jobs(
            listed, empty=f"no {' or '.join(wanted)} jobs; see every job with `agentctl jobs`"
        )
    elif not listed and (wanted or recipe or since):
        render_jobs(listed, empty="no jobs match")
    else:
        render_jobs(listed)


def _wanted_states(given: list[str]) -> list[str]:
    """`jobs --state` values (repeated or separated by commas), each a JobState."""
    from agentctl.events import JobState

    wanted = [name.strip() for value in given for name in value.split(",") if name.strip()]
    for name in wanted:
        if name not in set(JobState):
            choices = ", ".join(JobState)
            close = suggest(name, list(JobState))
            raise UsageError(
                f"unknown state {name!r}",
                f"{close} (states: {choices})" if close else f"use one of: {choices}",
            )
    return wanted


def filter_jobs(
    listed: list[dict[str, Any]], *, recipe: str | None, since: str | None, limit: int | None
) -> list[dict[str, Any]]:
    """`jobs --recipe/--since/--limit` over described jobs (newest first)."""
    from agentctl.times import parse_time
    from agentctl.units import parse_duration

    if recipe is not None:
        listed = [job for job in listed if job["recipe"] == recipe]
    if since is not None:
        try:
            cutoff = time.time() - parse_duration(since)
        except ValueError:
            try:
                cutoff = parse_time(since) or 0.0
            except ValueError:
                raise UsageError(
                    f"--since {since!r} is neither an age nor a date",
                    "give an age such as 12h or 7d, or a date such as 2026-01-31",
                ) from None
        listed = [job for job in listed if (parse_time(job["created_at"]) or 0.0) >= cutoff]
    return listed[:limit] if limit is not None else listed


@app.command()
def status(
    job: JobArgument, json_out: JsonOption = False, db: DbOption = None, debug: DebugOption = False
) -> None:
    """One job: its state, steps, pending approvals and usage."""
    from agentctl.engine.jobs import describe_job
    from agentctl.ui.tables import render_status

    store = open_store(db, create=False)
    described = describe_job(store, store.get_job(store.find_job(job)))
    if json_out:
        print(json.dumps(described, indent=2))
    else:
        from agentctl.ui.words import FAILURE_EVENT_TYPES, failure_of

        failure = (
            failure_of(store.read_events(described["id"], types=FAILURE_EVENT_TYPES))
            if "error" in described
            else None
        )
        render_status(described, failure=failure)


# `log --follow` waits while the job runs or waits in a queue for a worker.
FOLLOWED_STATES = ("running", "queued")
FOLLOW_RECHECK_SECONDS = 2.0


@app.command()
def log(
    job: JobArgument,
    json_out: Annotated[
        bool, typer.Option("--json", help="One JSON event per line (JSON Lines).")
    ] = False,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events until the job stops.")
    ] = False,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Check the log's hash chain instead: exit 1 naming the first event that was"
            " changed or removed, 0 when it is intact.",
        ),
    ] = False,
    db: DbOption = None,
    debug: DebugOption = False,
) -> None:
    """The job's audit history, event by event.

    With --follow, it ends when the job stops, with the job's exit code (as `watch`): 0
    succeeded, 1 failed, 3 waiting for approval, 4 cancelled, 130 interrupted.
    """
    store = open_store(db, create=False)
    job_id = store.find_job(job)
    if verify:
        if follow:
            raise UsageError("--verify checks a log once; it cannot --follow", "leave one out")
        _verify_log(store, job_id, json_out=json_out)
        return
    if not json_out and not follow:  # the whole history at once: through the pager
        from agentctl.ui.pager import page

        page("".join(line + "\n" for e in store.read_events(job_id) for line in _log_lines(e)))
        return
    _print_events(store, job_id, json_out=json_out, follow=follow)


def _print_events(store: Store, job_id: str, *, json_out: bool, follow: bool) -> None:
    """The log's events, as lines or JSON Lines; with `follow`, new ones until the job stops,
    then exit with its exit code."""
    from agentctl.engine.jobs import effective_state
    from agentctl.events import EXIT_CODES

    seq = 0
    while True:
        for event in store.read_events(job_id, after_seq=seq):
            seq = event.seq
            if json_out:
                print(_event_json(event))
            else:
                for line in _log_lines(event):
                    print(line)
        sys.stdout.flush()
        if not follow:
            return
        state = effective_state(store.get_job(job_id))
        if state not in FOLLOWED_STATES:
            if store.read_events(job_id, after_seq=seq, limit=1):
                continue
            # As `watch`: a pipeline gates on how the job ended (1 failed, 3 parked...).
            raise typer.Exit(EXIT_CODES.get(state, 0))
        # Woken by the next append (LISTEN/NOTIFY on PostgreSQL); the timeout re-checks the
        # lease, since a runner that died appends nothing.
        store.wait_for_events(job_id, seq, timeout=FOLLOW_RECHECK_SECONDS)


def _event_json(event: Event) -> str:
    """One line of `log --json`: the event's fields and its data, flat."""
    from agentctl.times import iso_time

    shown = {"seq": event.seq, "ts": iso_time(event.ts), "type": event.type, "step": event.step}
    return json.dumps({**shown, **event.data}, ensure_ascii=False)


def _log_lines(event: Event) -> list[str]:
    """An event's plain lines in `log`: its numbered sentence, and a failure's output tail."""
    from agentctl.ui.plain import format_event_line, output_tail

    line = format_event_line(event.seq, event.ts, event.type, event.step, event.data)
    if not line:
        return []
    return [f"{event.seq:>5} {line}"] + [f"      {t}" for t in output_tail(event.type, event.data)]


def _verify_log(store: Store, job_id: str, *, json_out: bool) -> None:
    from agentctl.engine.audit import describe_report, tampered_error, verify_job_log

    report = verify_job_log(store, job_id)
    if json_out:
        print(json.dumps(report.to_dict(), indent=2))
        if not report.intact:
            print(f"error: {tampered_error(report).message}", file=sys.stderr)
            raise typer.Exit(1)
        return
    if not report.intact:
        raise tampered_error(report)
    for line in describe_report(report):
        print(line)


@app.command()
def cancel(
    job: JobArgument, json_out: JsonOption = False, db: DbOption = None, debug: DebugOption = False
) -> None:
    """Stop a job. A running runner stops at its next safe point and kills a running tool."""
    from agentctl.engine.jobs import cancel_job, describe_job

    store = open_store(db, create=False)
    job_id = store.find_job(job)
    ended = store.get_job(job_id)["state"]
    if ended in ("succeeded", "failed", "cancelled"):
        # Idempotent, like `kubectl delete --ignore-not-found`: the job is stopped either way.
        note = f"job {job_id} already {ended}; nothing to cancel"
        if json_out:
            print(note, file=sys.stderr)
            print(json.dumps(describe_job(store, store.get_job(job_id)), indent=2))
        else:
            print(note)
        return
    state = cancel_job(store, job_id)
    if json_out:
        print(json.dumps(describe_job(store, store.get_job(job_id)), indent=2))
    elif state == "cancelled":
        print(f"job {job_id} cancelled")
    else:
        print(f"cancel requested; job {job_id} is {state} and stops at its next safe point")


@app.command()
def prune(
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than", help="Age of the last change, e.g. 30d, 12h, 90m.", metavar="AGE"
        ),
    ] = "30d",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the jobs that would be deleted; delete none.")
    ] = False,
    json_out: JsonOption = False,
    db: DbOption = None,
    debug: DebugOption = False,
) -> None:
    """Delete finished jobs (succeeded, failed, cancelled) and their logs.

    Jobs that are running, waiting for approval or resumable are never pruned.
    """
    from agentctl.cli.options import is_interactive
    from agentctl.engine.jobs import prune_jobs
    from agentctl.units import parse_duration

    try:
        seconds = parse_duration(older_than)
    except ValueError as error:
        raise UsageError(
            f"--older-than {older_than!r}: {error}", "give an age such as 30d, 12h or 90m"
        ) from None
    from agentctl.ui.words import plural

    store = open_store(db, create=False)
    ids, _ = prune_jobs(store, older_than=seconds, delete=False)
    say = (lambda text: print(text, file=sys.stderr)) if json_out else print
    if not ids or dry_run:
        if json_out:
            print(json.dumps({"dry_run": dry_run, "jobs": ids, "deleted": [], "blobs": 0}))
        elif not ids:
            say(f"no finished jobs older than {older_than}")
        else:
            say(f"would delete {plural(len(ids), 'finished job')} older than {older_than}:")
            for job_id in ids:
                say(f"  {job_id}")
        return
    if not yes:
        if not is_interactive(False):
            raise UsageError(
                f"{plural(len(ids), 'finished job')} older than {older_than} would be deleted",
                "pass --yes to delete them (or --dry-run to list them)",
            )
        if not typer.confirm(
            f"delete {plural(len(ids), 'finished job')} older than {older_than}?", err=json_out
        ):
            raise typer.Exit(1)
    ids, blobs = prune_jobs(store, older_than=seconds, delete=True)
    if json_out:
        print(json.dumps({"dry_run": False, "jobs": ids, "deleted": ids, "blobs": blobs}))
        return
    print(f"deleted {plural(len(ids), 'job')} and {plural(blobs, 'stored output')}")
