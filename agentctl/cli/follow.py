"""What `run` (and `resume`, a keyed run) does with a prepared job: follow it in this process
to its end (the live view or plain lines, the approval prompt, Ctrl-C, the report when it
stops), or leave it to a worker (`--queue`) or a background runner (`--detach`)."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType

    from agentctl.engine.run import Outcome
    from agentctl.store.base import Event, Store
    from agentctl.ui.live import JobDisplay


def _interrupt_once(signum: int, frame: FrameType | None) -> None:
    # The first Ctrl-C stops the job cleanly; more presses while it records that are ignored.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def follow_job(
    store: Store,
    job_id: str,
    *,
    json_out: bool,
    interactive: bool,
    quiet: bool = False,
    limits: dict[str, Any] | None = None,
    detached: bool = False,
) -> None:
    """Run the job here, shown live on a terminal or as plain lines (stderr) elsewhere;
    `quiet` shows nothing but the final output (and, on stderr, why there is none);
    `limits` are `resume --limit` changes; `detached`: the runner of `run --detach`."""
    from agentctl.engine.jobs import describe_job
    from agentctl.models.loader import client_loading
    from agentctl.ui.live import open_display
    from agentctl.ui.view import JobViewState

    job = describe_job(store, store.get_job(job_id))
    github = os.environ.get("GITHUB_ACTIONS", "").lower() == "true"
    view = JobViewState.from_job(job, state="starting")
    view.client_loading = client_loading  # the view says so while litellm is imported
    display = open_display(view, live=interactive and not quiet, github=github, quiet=quiet)
    approver = (
        display.approver(workspace=Path(job["workspace"]), is_decided=pending_check(store, job_id))
        if interactive
        else None
    )
    outcome = _run_here(
        store, job_id, display, approver, quiet=quiet, limits=limits, detached=detached
    )
    if github:
        append_step_summary(store, job_id)
    if interactive and outcome.state in ("failed", "cancelled"):
        offer_rollback(store, job_id)
    _report(store, outcome, json_out=json_out, quiet=quiet)
    raise typer.Exit(outcome.exit_code)


def _run_here(
    store: Store,
    job_id: str,
    display: JobDisplay,
    approver: Callable[[dict[str, Any]], str | tuple[str, str] | None] | None,
    *,
    quiet: bool,
    limits: dict[str, Any] | None,
    detached: bool,
) -> Outcome:
    """The job run in this process with `display` open; the first Ctrl-C stops it cleanly."""
    from agentctl.engine.launch import run_prepared_job
    from agentctl.events import EventType

    def on_event(event: Event) -> None:
        if event.type == EventType.RUNNER_STARTED and not quiet:
            verb = "resumed" if event.data.get("resumed") else "started"
            print(
                f"job {job_id} {verb}; watch it from elsewhere with `agentctl watch {job_id}`",
                file=sys.stderr,
                flush=True,
            )
        display.on_event(event)

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, _interrupt_once)
    try:
        with display:
            return run_prepared_job(
                store,
                job_id,
                approver=approver,
                on_event=on_event,
                on_text=display.on_text,
                limits=limits,
                detached=detached,
            )
    finally:
        # After a Ctrl-C the handler stays "ignore" until exit; otherwise put it back.
        if previous is not None and signal.getsignal(signal.SIGINT) is _interrupt_once:
            signal.signal(signal.SIGINT, previous)


def _report(store: Store, outcome: Outcome, *, json_out: bool, quiet: bool) -> None:
    """How the run ended: the job as JSON, the final output alone (`quiet`), or the outcome
    with the last step's output and the files changed."""
    from agentctl.engine.jobs import describe_job
    from agentctl.ui.outcome import show_outcome
    from agentctl.ui.plain import silence
    from agentctl.ui.words import failure_of

    job_id = outcome.job_id
    try:
        if json_out:
            print(json.dumps(describe_job(store, store.get_job(job_id)), indent=2))
            if outcome.state == "awaiting_approval":  # how to go on, for the person reading
                show_outcome(outcome, stream=sys.stderr)
        elif quiet:
            print_quiet(store, outcome)
        else:
            show_outcome(
                outcome,
                final_output=final_output(store, job_id) if outcome.state == "succeeded" else None,
                failure=failure_of(store.read_events(job_id))
                if outcome.state == "failed"
                else None,
            )
            from agentctl.cli.rollback import print_files_changed

            print_files_changed(store, job_id)
        sys.stdout.flush()
    except BrokenPipeError:
        silence(sys.stdout)  # nobody reads the report; the exit code still tells how it ended


def print_quiet(store: Store, outcome: Outcome) -> None:
    """Only the final output on stdout, whole (made visible on a terminal, raw in a file); any
    other ending is said on stderr, so stdout stays clean."""
    from agentctl.ui.outcome import show_outcome
    from agentctl.visible import make_visible

    if outcome.state != "succeeded":
        show_outcome(outcome, stream=sys.stderr)
        return
    final = final_output(store, outcome.job_id)
    if final is None:
        return
    text = final[1] if final[1].endswith("\n") else final[1] + "\n"
    sys.stdout.write(make_visible(text) if sys.stdout.isatty() else text)
    sys.stdout.flush()


def final_output(store: Store, job_id: str) -> tuple[str, str] | None:
    """The last step's id and output, which is usually what the person ran the job for."""
    from agentctl.events import EventType

    finished = [e for e in store.read_events(job_id) if e.type == EventType.STEP_FINISHED]
    if not finished or not finished[-1].data.get("output"):
        return None
    return finished[-1].step or "", finished[-1].data["output"]


def offer_rollback(store: Store, job_id: str) -> None:
    """A failed or cancelled run in a terminal offers to undo the files it changed, in the
    words of `agentctl rollback` (its plan, its question, its report)."""
    from agentctl.cli.rollback import rollback_plan_text, rollback_report_lines
    from agentctl.engine.rollback import rollback_job
    from agentctl.ui import prompts

    preview = rollback_job(store, job_id, dry_run=True)
    if not preview["plan"] or not prompts.offer_rollback(rollback_plan_text(preview)):
        return
    for line in rollback_report_lines(rollback_job(store, job_id)):
        print(line, file=sys.stderr)


def pending_check(store: Store, job_id: str) -> Callable[[dict[str, Any]], bool]:
    """`is_decided(request)` for prompts: true once the request is no longer pending, e.g.
    after `agentctl approve` from another terminal. One indexed query per call."""

    def is_decided(request: dict[str, Any]) -> bool:
        if store.cancel_requested(job_id):  # `agentctl cancel` closes the prompt too
            return True
        pending = store.list_approvals(job_id, state="pending")
        return all(a["request"] != request["request"] for a in pending)

    return is_decided


def append_step_summary(store: Store, job_id: str) -> None:
    """On GitHub Actions: append the job's Markdown summary to $GITHUB_STEP_SUMMARY."""
    from agentctl.engine.jobs import describe_job
    from agentctl.ui.github import render_summary

    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    text = render_summary(describe_job(store, store.get_job(job_id)), store.read_events(job_id))
    try:
        with open(path, "a", encoding="utf-8") as summary:
            summary.write(text)
    except OSError as error:
        print(f"warning: could not write the step summary to {path}: {error}", file=sys.stderr)


def report_queued(store: Store, job_id: str, *, json_out: bool, quiet: bool = False) -> None:
    """`run --queue`: the job waits for a worker; say how to follow it (or just its id)."""
    from agentctl.engine.jobs import describe_job

    if quiet and not json_out:
        print(job_id)  # `JOB=$(agentctl run R --queue -q)`
        return
    if json_out:
        print(json.dumps(describe_job(store, store.get_job(job_id)), indent=2))
        return
    queue = store.get_job(job_id)["queue"]
    print(f"job {job_id} is queued in {queue!r}; a worker runs it: agentctl worker --queue {queue}")
    print(f"follow it: agentctl watch {job_id}   stop it: agentctl cancel {job_id}")


def detach_and_report(store: Store, job_id: str, *, json_out: bool, quiet: bool = False) -> None:
    """`run --detach`: start the job's runner in the background and say how to follow it."""
    from agentctl.engine.jobs import describe_job
    from agentctl.engine.launch import detach_job

    pid, log_path = detach_job(store, job_id)
    if quiet and not json_out:
        print(job_id)  # `JOB=$(agentctl run R --detach -q)`
        return
    if json_out:
        print(json.dumps(describe_job(store, store.get_job(job_id)), indent=2))
        return
    print(f"job {job_id} runs in the background (pid {pid}; its output goes to {log_path})")
    print(f"follow it: agentctl log {job_id} --follow   stop it: agentctl cancel {job_id}")
