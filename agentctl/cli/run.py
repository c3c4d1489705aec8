"""`agentctl run` and `agentctl resume`: start or continue a job and follow it to its end."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from agentctl.cli.app import app
from agentctl.cli.follow import detach_and_report, follow_job, report_queued
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
    from agentctl.store.base import Schedule


# `run`'s options, named so that its signature reads as a list.
_RecipeArgument = Annotated[
    Path,
    typer.Argument(help="The recipe file (YAML); `-` reads it from stdin.", metavar="RECIPE"),
]
_ParamOption = Annotated[
    list[str] | None,
    typer.Option(
        "-p",
        "--param",
        help="A recipe param as KEY=VALUE; repeat for more.",
        metavar="KEY=VALUE",
    ),
]
_WorkspaceOption = Annotated[
    str | None,
    typer.Option(
        help="The folder the agent works in (default: the current folder).", metavar="DIR"
    ),
]
_ForceWorkspaceOption = Annotated[
    bool,
    typer.Option(
        "--force-workspace",
        help="Accept `/` or a home folder as the workspace (refused without it).",
    ),
]
_PolicyOption = Annotated[
    list[str] | None,
    typer.Option(
        "--policy",
        help="A policy file, on top of the recipe's; repeat for more. The strictest decision wins.",
        metavar="FILE",
    ),
]
_ModelOption = Annotated[
    list[str] | None,
    typer.Option(
        "--model",
        help="MODEL for the default role, or ROLE=MODEL; repeat for more.",
        metavar="[ROLE=]MODEL",
    ),
]
_RecordOption = Annotated[
    str | None,
    typer.Option(help="Write every model exchange to FILE (JSON Lines).", metavar="FILE"),
]
_ForceOption = Annotated[
    bool,
    typer.Option("--force", help="With --record: add to a recording that already exists."),
]
_ReplayOption = Annotated[
    str | None,
    typer.Option(
        help="Answer model calls from FILE, made by --record; no network.", metavar="FILE"
    ),
]
_NonInteractiveOption = Annotated[
    bool,
    typer.Option("--non-interactive", help="Never prompt: park the job for approval and exit 3."),
]
_DetachOption = Annotated[
    bool,
    typer.Option(
        "--detach",
        help="Run in the background and return at once; follow with `agentctl log JOB --follow`.",
    ),
]
_QuietOption = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="Print only the final output (the last step's) on stdout; no progress lines."
        " With --detach or --queue: print only the job id.",
    ),
]
_QueueOption = Annotated[
    str | None,
    typer.Option(
        "--queue",
        help="Record the job as queued for `agentctl worker` (in queue NAME; `--queue`"
        " alone: `default`) and return at once.",
        metavar="[NAME]",
    ),
]
_SharedWorkspaceOption = Annotated[
    bool,
    typer.Option(
        "--shared-workspace",
        help="Let this job work in a folder where another job runs (refused without it:"
        " one job per workspace).",
    ),
]
_PushBranchOption = Annotated[
    str | None,
    typer.Option(
        "--push-branch",
        help="With a git workspace: once the job succeeds, commit its changes and push them"
        " to the source as branch NAME.",
        metavar="NAME",
    ),
]
_KeyOption = Annotated[
    str | None,
    typer.Option(
        "--key",
        help='Name this run (e.g. "$GITHUB_RUN_ID-$GITHUB_JOB"): a run with a key'
        " already used gets that job (resumed if its runner died) and repeats nothing.",
        metavar="KEY",
    ),
]
_PriorityOption = Annotated[
    int,
    typer.Option(
        "--priority",
        help="With --queue: workers take higher priorities first (then the oldest).",
        metavar="N",
    ),
]
_NotBeforeOption = Annotated[
    str | None,
    typer.Option(
        "--not-before",
        help="With --queue: no worker takes the job before then: a delay (10m, 2h) or a"
        " time (2026-12-24T08:00, UTC unless it has a zone).",
        metavar="WHEN",
    ),
]


@app.command()
def run(
    recipe: _RecipeArgument,
    param: _ParamOption = None,
    workspace: _WorkspaceOption = None,
    force_workspace: _ForceWorkspaceOption = False,
    policy: _PolicyOption = None,
    model: _ModelOption = None,
    record: _RecordOption = None,
    force: _ForceOption = False,
    replay: _ReplayOption = None,
    non_interactive: _NonInteractiveOption = False,
    detach: _DetachOption = False,
    quiet: _QuietOption = False,
    queue: _QueueOption = None,
    shared_workspace: _SharedWorkspaceOption = False,
    push_branch: _PushBranchOption = None,
    key: _KeyOption = None,
    priority: _PriorityOption = 0,
    not_before: _NotBeforeOption = None,
    json_out: JsonOption = False,
    db: DbOption = None,
    debug: DebugOption = False,
) -> None:
    """Start a job from RECIPE and follow it until it ends or waits for an approval.

    Exit codes: 0 succeeded, 1 failed, 2 bad input, 3 waiting for approval, 4 cancelled,
    130 interrupted (resume it with `agentctl resume JOB`).

    Example without a model key (a scripted session), in WS a copy of recipes/examples/calc:

    \b
    agentctl run recipes/fix-failing-test.yaml --workspace WS \\
        --replay recipes/fix-failing-test.session.jsonl
    \f
    Over 60 lines only by its options, which typer reads from the signature; the work is in
    prepare_job and in the function below that follows, queues or detaches the job.
    """
    from agentctl.engine.admission import check_key
    from agentctl.engine.jobs import new_job_id
    from agentctl.engine.keys import Mode
    from agentctl.engine.launch import prepare_job

    key = check_key(key)
    schedule = _schedule(priority, not_before, queued=queue is not None)
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
        push_branch=push_branch,
    )
    mode: Mode = "queue" if queue is not None else "detach" if detach else "follow"
    interactive = is_interactive(non_interactive)
    if key is not None:
        from agentctl.cli.keyed import run_keyed

        reused = job_id != new_id
        run_keyed(
            store,
            job_id,
            key,
            reused=reused,
            mode=mode,
            json_out=json_out,
            interactive=interactive,
            quiet=quiet,
        )
    elif mode == "queue":
        report_queued(store, job_id, json_out=json_out, quiet=quiet)
    elif mode == "detach":
        detach_and_report(store, job_id, json_out=json_out, quiet=quiet)
    else:
        follow_job(store, job_id, json_out=json_out, interactive=interactive, quiet=quiet)


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
    follow_job(
        store,
        store.find_job(job),
        json_out=json_out,
        interactive=is_interactive(non_interactive),
        quiet=quiet,
        limits=limits,
        detached=detached,
    )


def _schedule(priority: int, not_before: str | None, *, queued: bool) -> Schedule | None:
    """`--priority` and `--not-before`, which only a queued job takes."""
    from agentctl.engine.admission import parse_schedule
    from agentctl.errors import UsageError

    schedule = parse_schedule(priority, not_before, now=time.time())
    if schedule is not None and not queued:
        raise UsageError(
            "--priority and --not-before order queued jobs", "add --queue [NAME], or drop them"
        )
    return schedule


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
