"""`agentctl run` and `agentctl resume`: start or continue a job and follow it to its end."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agentctl.cli import app
from agentctl.cli.options import (
    DbOption,
    DebugOption,
    JobArgument,
    JsonOption,
    is_interactive,
    open_store,
    read_stdin_recipe,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType

    from agentctl.engine.runner import Outcome
    from agentctl.store.base import Event, Store


@app.command()
def run(
    recipe: Annotated[
        Path,
        typer.Argument(help="The recipe file (YAML); `-` reads it from stdin.", metavar="RECIPE"),
    ],
    param: Annotated[
        list[str] | None,
        typer.Option(
            "-p",
            "--param",
            help="A recipe param as KEY=VALUE; repeat for more.",
            metavar="KEY=VALUE",
        ),
    ] = None,
    workspace: Annotated[
        str | None,
        typer.Option(
            help="The folder the agent works in (default: the current folder).", metavar="DIR"
        ),
    ] = None,
    force_workspace: Annotated[
        bool,
        typer.Option(
            "--force-workspace",
            help="Accept `/` or a home folder as the workspace (refused without it).",
        ),
    ] = False,
    policy: Annotated[
        list[str] | None,
        typer.Option(
            "--policy",
            help="A policy file, on top of the recipe's; repeat for more. The strictest"
            " decision wins.",
            metavar="FILE",
        ),
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            help="MODEL for the default role, or ROLE=MODEL; repeat for more.",
            metavar="[ROLE=]MODEL",
        ),
    ] = None,
    record: Annotated[
        str | None,
        typer.Option(help="Write every model exchange to FILE (JSON Lines).", metavar="FILE"),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="With --record: add to a recording that already exists."),
    ] = False,
    replay: Annotated[
        str | None,
        typer.Option(
            help="Answer model calls from FILE, made by --record; no network.", metavar="FILE"
        ),
    ] = None,
    non_interactive: Annotated[
        bool,
        typer.Option(
            "--non-interactive", help="Never prompt: park the job for approval and exit 3."
        ),
    ] = False,
    detach: Annotated[
        bool,
        typer.Option(
            "--detach",
            help="Run in the background and return at once; follow with"
            " `agentctl log JOB --follow`.",
        ),
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="Print only the final output (the last step's) on stdout; no progress lines."
            " With --detach or --queue: print only the job id.",
        ),
    ] = False,
    queue: Annotated[
        str | None,
        typer.Option(
            "--queue",
            help="Record the job as queued for `agentctl worker` (in queue NAME; `--queue`"
            " alone: `default`) and return at once.",
            metavar="[NAME]",
        ),
    ] = None,
    shared_workspace: Annotated[
        bool,
        typer.Option(
            "--shared-workspace",
            help="Let this job work in a folder where another job runs (refused without it:"
            " one job per workspace).",
        ),
    ] = False,
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            help='Name this run (e.g. "$GITHUB_RUN_ID-$GITHUB_JOB"): a run with a key'
            " already used gets that job (resumed if its runner died) and repeats nothing.",
            metavar="KEY",
        ),
    ] = None,
    priority: Annotated[
        int,
        typer.Option(
            "--priority",
            help="With --queue: workers take higher priorities first (then the oldest).",
            metavar="N",
        ),
    ] = 0,
    not_before: Annotated[
        str | None,
        typer.Option(
            "--not-before",
            help="With --queue: no worker takes the job before then: a delay (10m, 2h) or a"
            " time (2026-12-24T08:00, UTC unless it has a zone).",
            metavar="WHEN",
        ),
    ] = None,
    json_out: JsonOption = False,
    db: DbOption = None,
    debug: DebugOption = False,
) -> None:
    """Start a job from RECIPE and follow it until it ends or waits for an approval.

    Exit codes: 0 succeeded, 1 failed, 2 bad input, 3 waiting for approval, 4 cancelled,
    130 interrupted (resume it with `agentctl resume JOB`).

    Example without a model key (a scripted session), in WS a copy of recipes/examples/calc:
    agentctl run recipes/fix-failing-test.yaml --workspace WS
    --replay recipes/fix-failing-test.session.jsonl
    """
    from agentctl.engine.jobs import new_job_id
    from agentctl.engine.keys import check_key
    from agentctl.engine.launch import parse_schedule, prepare_job

    key = check_key(key)
    schedule = parse_schedule(priority, not_before, now=time.time())
    if schedule is not None and queue is None:
        from agentctl.errors import UsageError

        raise UsageError(
            "--priority and --not-before order queued jobs", "add --queue [NAME], or drop them"
        )
    store = open_store(db)
    new_id = new_job_id()
    job_id = prepare_job(
        store,
        str(recipe),
        recipe_text=read_stdin_recipe() if str(recipe) == "-" else None,
        param_pairs=param or [],
        workspace=workspace,
        model_overrides=model or [],
        record=record,
        replay=replay,
        policy_files=policy or [],
        force_workspace=force_workspace,
        force_record=force,
        queue=_queue_name(queue, detach=detach),
        key=key,
        job_id=new_id,
        schedule=schedule,
        shared_workspace=shared_workspace,
    )
    if key is not None:
        from agentctl.cli.keyed import run_keyed
        from agentctl.engine.keys import Mode

        mode: Mode = "queue" if queue is not None else "detach" if detach else "follow"
        run_keyed(
            store,
            job_id,
            key,
            reused=job_id != new_id,
            mode=mode,
            json_out=json_out,
            interactive=is_interactive(non_interactive),
            quiet=quiet,
        )
        return
    if queue is not None:
        _queued(store, job_id, json_out=json_out, quiet=quiet)
        return
    if detach:
        _detach(store, job_id, json_out=json_out, quiet=quiet)
        return
    _follow(
        store, job_id, json_out=json_out, interactive=is_interactive(non_interactive), quiet=quiet
    )


@app.command()
def resume(
    job: JobArgument,
    limit: Annotated[
        list[str] | None,
        typer.Option(
            "--limit",
            help="Change a limit for the rest of the job, as KEY=VALUE (max_turns,"
            " max_tool_calls, max_cost_usd, timeout); repeat for more.",
            metavar="KEY=VALUE",
        ),
    ] = None,
    non_interactive: Annotated[
        bool,
        typer.Option(
            "--non-interactive", help="Never prompt: park the job for approval and exit 3."
        ),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only the final output on stdout.")
    ] = False,
    detached: Annotated[
        bool,
        typer.Option(
            "--detached",
            hidden=True,
            help="The background runner of `run --detach`: wait for decisions made elsewhere.",
        ),
    ] = False,
    json_out: JsonOption = False,
    db: DbOption = None,
    debug: DebugOption = False,
) -> None:
    """Continue a job that paused, was interrupted, or whose runner died, or that failed on a
    model error or a limit once its cause is fixed (`--limit` raises a limit).

    Nothing the log already holds is done again: recorded model answers are reused and
    finished actions are not re-run. An action that started but never recorded a result is
    re-run by itself only if its tool is read-only; otherwise it waits for `agentctl approve`.
    """
    from agentctl.engine.launch import parse_limits

    limits = parse_limits(limit or [])
    store = open_store(db, create=False)
    _follow(
        store,
        store.find_job(job),
        json_out=json_out,
        interactive=is_interactive(non_interactive),
        quiet=quiet,
        limits=limits,
        detached=detached,
    )


def _queue_name(queue: str | None, *, detach: bool) -> str | None:
    from agentctl.errors import UsageError

    if queue is None:
        return None
    if detach:
        raise UsageError(
            "--queue and --detach cannot be used together",
            "a queued job runs in `agentctl worker`; leave out --detach",
        )
    if not queue.strip() or queue.startswith("-"):
        raise UsageError(f"bad queue name {queue!r}", "name a queue, e.g. --queue nightly")
    return queue.strip()


def _queued(store: Store, job_id: str, *, json_out: bool, quiet: bool = False) -> None:
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


def _detach(store: Store, job_id: str, *, json_out: bool, quiet: bool = False) -> None:
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


def _interrupt_once(signum: int, frame: FrameType | None) -> None:
    # The first Ctrl-C stops the job cleanly; more presses while it records that are ignored.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def _follow(
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
    from agentctl.engine.launch import run_prepared_job
    from agentctl.ui.live import open_display
    from agentctl.ui.outcome import show_outcome
    from agentctl.ui.plain import silence
    from agentctl.ui.view import JobViewState
    from agentctl.ui.words import failure_of

    job = describe_job(store, store.get_job(job_id))
    github = os.environ.get("GITHUB_ACTIONS", "").lower() == "true"
    view = JobViewState.from_job(job, state="starting")
    from agentctl.models.loader import client_loading

    view.client_loading = client_loading  # the view says so while litellm is imported
    display = open_display(view, live=interactive and not quiet, github=github, quiet=quiet)
    approver = (
        display.approver(workspace=Path(job["workspace"]), is_decided=pending_check(store, job_id))
        if interactive
        else None
    )

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
            outcome = run_prepared_job(
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
    if github:
        append_step_summary(store, job_id)
    if interactive and outcome.state in ("failed", "cancelled"):
        _offer_rollback(store, job_id)
    try:
        if json_out:
            print(json.dumps(describe_job(store, store.get_job(job_id)), indent=2))
            if outcome.state == "awaiting_approval":  # how to go on, for the person reading
                show_outcome(outcome, stream=sys.stderr)
        elif quiet:
            _print_quiet(store, outcome)
        else:
            show_outcome(
                outcome,
                final_output=_final_output(store, job_id) if outcome.state == "succeeded" else None,
                failure=failure_of(store.read_events(job_id))
                if outcome.state == "failed"
                else None,
            )
            from agentctl.cli.rollback import print_files_changed

            print_files_changed(store, job_id)
        sys.stdout.flush()
    except BrokenPipeError:
        silence(sys.stdout)  # nobody reads the report; the exit code still tells how it ended
    raise typer.Exit(outcome.exit_code)


def _print_quiet(store: Store, outcome: Outcome) -> None:
    """Only the final output on stdout, whole (made visible on a terminal, raw in a file); any
    other ending is said on stderr, so stdout stays clean."""
    from agentctl.ui.outcome import show_outcome
    from agentctl.visible import make_visible

    if outcome.state != "succeeded":
        show_outcome(outcome, stream=sys.stderr)
        return
    final = _final_output(store, outcome.job_id)
    if final is None:
        return
    text = final[1] if final[1].endswith("\n") else final[1] + "\n"
    sys.stdout.write(make_visible(text) if sys.stdout.isatty() else text)
    sys.stdout.flush()


def _final_output(store: Store, job_id: str) -> tuple[str, str] | None:
    """The last step's id and output, which is usually what the person ran the job for."""
    from agentctl.events import EventType

    finished = [e for e in store.read_events(job_id) if e.type == EventType.STEP_FINISHED]
    if not finished or not finished[-1].data.get("output"):
        return None
    return finished[-1].step or "", finished[-1].data["output"]


def _offer_rollback(store: Store, job_id: str) -> None:
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
