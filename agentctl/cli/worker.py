"""`agentctl worker`: run queued jobs (and resumable ones) from one or more queues."""

from __future__ import annotations

import os
import signal
import threading
from typing import TYPE_CHECKING, Annotated

import typer

from agentctl.cli.app import app
from agentctl.cli.options import DbOption, DebugOption, JsonOption, open_store

if TYPE_CHECKING:
    from agentctl.engine.worker import WorkerOptions, WorkerReport
    from agentctl.store.base import QueueLimit, Store


# `worker`'s options, named so that its signature reads as a list.
_QueueOption = Annotated[
    list[str] | None,
    typer.Option(
        "--queue",
        help="A queue to take jobs from; repeat for more (default: `default`).",
        metavar="NAME",
    ),
]
_ConcurrencyOption = Annotated[
    int, typer.Option("--concurrency", min=1, help="How many jobs to run at once.", metavar="N")
]
_OnceOption = Annotated[
    bool,
    typer.Option(
        "--once",
        help="Exit when there is nothing left to claim: 1 if a job it ran failed, else 3"
        " if one waits for an approval, else 0.",
    ),
]
_LeaseOption = Annotated[
    float,
    typer.Option(
        "--lease",
        min=1.0,
        metavar="SECONDS",
        help="Seconds a job's lease lasts without a heartbeat: how soon another worker"
        " takes over a job whose worker died.",
    ),
]
_WorkspaceWaitOption = Annotated[
    float,
    typer.Option(
        "--workspace-wait",
        min=0.0,
        metavar="SECONDS",
        help="Fail a queued job whose workspace folder no worker has, this long after it"
        " was queued (it names the path).",
    ),
]
_MaxTakeoversOption = Annotated[
    int,
    typer.Option(
        "--max-takeovers",
        min=0,
        metavar="N",
        help="Fail a job (a dead letter) whose runner died more than N times, instead of"
        " taking it over again.",
    ),
]
_WarmOption = Annotated[
    bool,
    typer.Option(
        "--warm/--no-warm",
        help="Import once and fork a process per job (Linux; the default there), or start"
        " a new Python for each job.",
    ),
]


@app.command()
def worker(
    queue: _QueueOption = None,
    concurrency: _ConcurrencyOption = 1,
    once: _OnceOption = False,
    lease: _LeaseOption = 15.0,
    workspace_wait: _WorkspaceWaitOption = 600.0,
    max_takeovers: _MaxTakeoversOption = 5,
    warm: _WarmOption = True,
    db: DbOption = None,
    debug: DebugOption = False,
) -> None:
    """Run jobs queued with `agentctl run RECIPE --queue [NAME]`, each in its own process.

    Also continues, from the same queues, jobs whose approvals were all answered, jobs left interrupted, and jobs whose runner died (once their lease expired). A job whose workspace is missing on this machine is left for another worker (`agentctl status JOB` says so).

    Each job runs in a process of its own. A warm worker (the default on Linux) imports
    agentctl once (and litellm at its first model job) and forks that process, so a job starts
    in milliseconds; `--no-warm` starts a new Python for each job instead.

    SIGTERM or Ctrl-C: stop claiming, let running jobs stop at their next safe point (they stay resumable, for any worker), exit 0.

    With --once, the exit code tells how the jobs it ran ended: 1 if any failed, else 3 if any waits for an approval, else 0.
    """
    from agentctl.engine.worker import WorkerOptions

    store = open_store(db)
    options = WorkerOptions(
        queues=queue or ["default"],
        concurrency=concurrency,
        once=once,
        lease_ttl=lease,
        workspace_wait=workspace_wait,
        max_takeovers=max_takeovers,
    )
    report = _run_worker(store, options, warm=warm)
    if once:  # a pipeline gates on it: 1 a job failed, 3 one waits for an approval
        raise typer.Exit(report.exit_code())


def _run_worker(store: Store, options: WorkerOptions, *, warm: bool) -> WorkerReport:
    """Claim and run jobs until stopped (or, with `once`, until nothing is left), saying on
    stderr where it takes them from and what it did; SIGTERM and Ctrl-C stop it cleanly."""
    from agentctl.engine.worker import forking_worker_for_store, worker_for_store
    from agentctl.process.fork import can_fork
    from agentctl.ui.words import plural

    def note(line: str) -> None:
        typer.echo(line, err=True)

    if warm and can_fork():
        pool = forking_worker_for_store(store, options, on_note=note)
    else:
        pool = worker_for_store(store, options, env=dict(os.environ), on_note=note)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda signum, frame: pool.stop())
    names = ", ".join(options.queues)
    note(f"{pool.name}: taking jobs from {names} ({store.location})")
    try:
        report = pool.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    ran, left = plural(len(report.ran), "job"), len(report.left)
    note(f"{pool.name}: ran {ran}, left {left}; stopped")
    return report


@app.command("worker-run", hidden=True)
def worker_run(
    job: str,
    token: Annotated[int, typer.Option("--token")],
    lease: Annotated[float, typer.Option("--lease")] = 15.0,
    db: DbOption = None,
    debug: DebugOption = False,
) -> None:
    """Run one job a worker claimed (the worker starts this; not for people)."""
    from agentctl.engine.launch import run_prepared_job

    store = open_store(db)
    outcome = run_prepared_job(store, job, approver=None, claimed_token=token, lease_ttl=lease)
    raise typer.Exit(outcome.exit_code)


_QueueNameArgument = Annotated[
    str | None,
    typer.Argument(help="The queue (left out: every queue that has limits).", metavar="NAME"),
]
_MaxRunningOption = Annotated[
    int | None,
    typer.Option(
        "--max-running",
        min=1,
        metavar="N",
        help="At most N of the queue's jobs run at once, on all workers together.",
    ),
]
_MaxStartsOption = Annotated[
    int | None,
    typer.Option(
        "--max-starts",
        min=1,
        metavar="N",
        help="At most N of the queue's jobs start within any --per window.",
    ),
]
_PerOption = Annotated[
    str | None,
    typer.Option("--per", metavar="DURATION", help="The window of --max-starts: 1s, 1m, 1h (1m)."),
]


@app.command()
def queue(
    name: _QueueNameArgument = None,
    max_running: _MaxRunningOption = None,
    max_starts: _MaxStartsOption = None,
    per: _PerOption = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the queue's limits.")] = False,
    json_out: JsonOption = False,
    db: DbOption = None,
    debug: DebugOption = False,
) -> None:
    """Show or set a queue's limits, kept in the database for every worker's claims.

    A worker leaves a queue's job queued while the queue has --max-running jobs running (on
    any machine), or --max-starts jobs started in the last --per. Without options: show.

    Example: agentctl queue nightly --max-running 4 --max-starts 10 --per 1m
    """
    import json

    from agentctl.ui.queues import queue_limit_line, queue_limit_object

    store = open_store(db)
    limits = _queue_limits(store, name, max_running, max_starts, per, clear=clear)
    if json_out:
        typer.echo(json.dumps([queue_limit_object(q) for q in limits], indent=2))
        return
    for limit in limits:
        typer.echo(queue_limit_line(limit))
    if not limits:
        typer.echo("no queue has limits; set some with `agentctl queue NAME --max-running N`")


def _queue_limits(
    store: Store,
    name: str | None,
    max_running: int | None,
    max_starts: int | None,
    per: str | None,
    *,
    clear: bool,
) -> list[QueueLimit]:
    """Every queue's limits (no `name`), or the named queue's after setting what is given."""
    import time

    from agentctl.engine.worker import limit_queue

    now = time.time()
    if name is not None:
        per_seconds = _seconds(per)
        return [
            limit_queue(
                store,
                name,
                max_running=max_running,
                max_starts=max_starts,
                per=per_seconds,
                clear=clear,
                now=now,
            )
        ]
    if max_running is not None or max_starts is not None or per is not None or clear:
        from agentctl.errors import UsageError

        raise UsageError("name the queue to limit", "agentctl queue NAME --max-running N")
    return store.queue_limits(now=now)


def _seconds(per: str | None) -> float | None:
    from agentctl.errors import UsageError
    from agentctl.units import parse_duration

    if per is None:
        return None
    try:
        seconds = parse_duration(per)
    except ValueError:
        seconds = 0.0
    if seconds <= 0:
        raise UsageError(f"--per {per!r} is not a duration", "write e.g. --per 1s, 1m or 1h")
    return seconds
