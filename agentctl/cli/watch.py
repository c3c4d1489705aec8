"""`agentctl watch`: follow a job that another process runs, and answer its approvals."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from agentctl.cli.app import app
from agentctl.cli.options import DbOption, DebugOption, JobArgument, JsonOption, open_store

if TYPE_CHECKING:
    from agentctl.store.base import Store
    from agentctl.ui.live import JobDisplay

POLL_SECONDS = 0.2  # the longest wait for new events (a NOTIFY wakes it sooner)
# A runner that dies says nothing: its lease is checked this often while the log is quiet
# (new events wake the view at once: LISTEN/NOTIFY on PostgreSQL, a short poll on SQLite).
LIVENESS_SECONDS = 2.0


@app.command()
def watch(
    job: JobArgument, json_out: JsonOption = False, db: DbOption = None, debug: DebugOption = False
) -> None:
    """Show the live view of a job that another process runs, until it ends or pauses.

    On a terminal, a pending approval is shown with the same prompt as `run`: answer it here
    (or anywhere else; the prompt closes). Exit codes as for `run`: 0 succeeded, 1 failed,
    3 waiting for approval, 4 cancelled, 130 interrupted.
    """
    from agentctl.cli.options import is_interactive
    from agentctl.engine.jobs import describe_job, effective_state
    from agentctl.events import EXIT_CODES, ApprovalState
    from agentctl.ui.live import open_display
    from agentctl.ui.plain import silence
    from agentctl.ui.view import JobViewState

    store = open_store(db, create=False)
    job_id = store.find_job(job)
    described = describe_job(store, store.get_job(job_id))
    interactive = is_interactive(False)
    display = open_display(JobViewState(job_id), live=interactive)
    with display:
        _follow_log(
            store, job_id, display, interactive=interactive, workspace=Path(described["workspace"])
        )
    state = effective_state(store.get_job(job_id))
    try:
        _print_end(
            job_id,
            state,
            pending=bool(store.list_approvals(job_id, state=ApprovalState.PENDING)),
            err=json_out,
            queue=store.get_job(job_id).get("queue"),
        )
        if json_out:
            print(json.dumps(describe_job(store, store.get_job(job_id)), indent=2))
        else:
            from agentctl.cli.rollback import print_files_changed

            print_files_changed(store, job_id)
        sys.stdout.flush()
    except BrokenPipeError:  # nobody reads the end; the exit code still tells how it ended
        silence(sys.stdout)
        silence(sys.stderr)
    raise typer.Exit(EXIT_CODES.get(state, 0))


def _follow_log(
    store: Store, job_id: str, display: JobDisplay, *, interactive: bool, workspace: Path
) -> None:
    """Fold new events into the display until the job stops; ask its approvals on the way."""
    from agentctl.cli.follow import pending_check
    from agentctl.engine.jobs import effective_state
    from agentctl.events import TERMINAL_STATES, JobState

    decided = pending_check(store, job_id)

    def is_decided(request: dict[str, Any]) -> bool:
        # A job that ended (e.g. cancelled) leaves its request pending: the prompt closes too.
        return decided(request) or store.get_job(job_id)["state"] in TERMINAL_STATES

    approver = display.approver(workspace=workspace, is_decided=is_decided) if interactive else None
    asked: set[str] = set()
    seq, last_check = 0, time.monotonic()
    while True:
        events = store.read_events(job_id, after_seq=seq)  # one indexed query a tick
        for event in events:
            display.on_event(event)
            seq = event.seq
        view = display.state
        if approver is not None and view.state not in TERMINAL_STATES:
            waiting = [r for r in view.pending.values() if r["request"] not in asked]
            for number, request in enumerate(waiting):
                if request["request"] in asked:  # approved with the one before (`A`)
                    continue
                asked.add(request["request"])
                batch = [r for r in waiting[number + 1 :] if r["request"] not in asked]
                answer = approver({**request, "batch": batch})
                if answer == "approve_all":
                    asked.update(r["request"] for r in batch)
                _answer(store, job_id, [request, *batch], answer)
                last_check = 0.0  # look again at once: the job may have moved on
        if view.state in TERMINAL_STATES:
            return
        if view.state == JobState.AWAITING_APPROVAL and not _runner_goes_on(store, job_id):
            return
        # The log says running (or interrupted, which a new runner may be about to change):
        # ask the lease now and then, since a runner that died writes no last event.
        quiet = not events and time.monotonic() - last_check > LIVENESS_SECONDS
        if quiet or view.state == JobState.INTERRUPTED:
            last_check = time.monotonic()
            if effective_state(store.get_job(job_id)) not in (
                JobState.RUNNING,
                JobState.QUEUED,
            ) and not store.read_events(job_id, after_seq=seq, limit=1):
                return
        # Woken by the next append (LISTEN/NOTIFY on PostgreSQL, a short poll on SQLite).
        store.wait_for_events(job_id, seq, timeout=POLL_SECONDS)


def _answer(
    store: Store, job_id: str, requests: list[dict[str, Any]], answer: str | tuple[str, str] | None
) -> None:
    """Record the prompt's answer to `requests[0]` (to all of them for `approve_all`)."""
    from agentctl.engine.approvals import decide_approvals, describe_decider
    from agentctl.errors import UsageError
    from agentctl.events import ApprovalAnswer

    reason = None
    if isinstance(answer, tuple):
        answer, reason = answer
    if answer not in (ApprovalAnswer.APPROVE, ApprovalAnswer.DENY, ApprovalAnswer.APPROVE_ALL):
        return
    chosen = requests if answer == ApprovalAnswer.APPROVE_ALL else requests[:1]
    try:
        decide_approvals(
            store,
            job_id,
            [r["request"] for r in chosen],
            ApprovalAnswer.DENY if answer == ApprovalAnswer.DENY else ApprovalAnswer.APPROVE,
            by=describe_decider(via="agentctl watch"),
            comment=reason or None,
            now=time.time(),
        )
    except UsageError as error:  # answered elsewhere a moment before
        typer.echo(f"note: {error.message}", err=True)
        return
    from agentctl.engine.continuation import continue_after_decision

    after = continue_after_decision(store, job_id)
    if after.kind == "restarted":  # its background runner was gone: a new one follows
        typer.echo(f"job {job_id} goes on in the background (pid {after.pid})", err=True)


def _runner_goes_on(store: Store, job_id: str) -> bool:
    """A job awaiting approval that a live runner holds (a detached runner waiting for the
    decision, a prompt elsewhere) goes on by itself once decided: keep following it."""
    from agentctl.engine.continuation import who_goes_on

    return who_goes_on(store, job_id).kind == "runner"


def _print_end(
    job_id: str, state: str, *, pending: bool, err: bool = False, queue: str | None = None
) -> None:
    from agentctl.events import JobState

    if state == JobState.AWAITING_APPROVAL and not pending:
        state = "decided"
    # A queued job's worker parked it and left; once decided, a worker claims it again.
    then = (
        f"a worker of queue {queue!r} goes on with it"
        if queue
        else f"continue it with `agentctl resume {job_id}`"
    )
    lines = {
        "decided": f"job {job_id} is paused and its approvals are decided; {then}",
        "succeeded": f"job {job_id} succeeded",
        "failed": f"job {job_id} failed; see `agentctl log {job_id}`",
        "cancelled": f"job {job_id} cancelled",
        "awaiting_approval": f"job {job_id} is waiting for approval; decide with `agentctl"
        f" approve {job_id}` or `agentctl deny {job_id}`, then"
        f" `agentctl resume {job_id}`",
        "interrupted": f"job {job_id} interrupted; continue it with `agentctl resume {job_id}`",
        "running": f"job {job_id} is still running",
    }
    print(lines.get(state, f"job {job_id} is {state}"), file=sys.stderr if err else sys.stdout)
