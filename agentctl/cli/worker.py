"""`agentctl worker`: run queued jobs (and resumable ones) from one or more queues."""

from __future__ import annotations

import os
import signal
import threading
from typing import TYPE_CHECKING, Annotated

import typer

from agentctl.cli import app
from agentctl.cli.options import DbOption, DebugOption, open_store

if TYPE_CHECKING:
    from agentctl.engine.worker import WorkerOptions, WorkerReport
    from agentctl.store.base import Store


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
