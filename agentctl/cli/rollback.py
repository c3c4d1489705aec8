"""`agentctl diff` and `agentctl rollback`: the file changes a job made, shown and undone."""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agentctl.cli.app import app
from agentctl.cli.options import (
    DbOption,
    DebugOption,
    JobArgument,
    JsonOption,
    open_store,
)
from agentctl.errors import AgentctlError, UsageError
from agentctl.ui.words import plural

if TYPE_CHECKING:
    from collections.abc import Callable

    from agentctl.store.base import Store

    Say = Callable[[str], None]  # print, or print to stderr under --json


@app.command()
def diff(
    job: JobArgument,
    step: Annotated[
        str | None, typer.Option("--step", help="Only the changes this step made.", metavar="STEP")
    ] = None,
    json_out: Annotated[
        bool,
        typer.Option(
            "--json", help="The changes as JSON (paths, kinds, hashes, sizes; no contents)."
        ),
    ] = False,
    db: DbOption = None,
    debug: DebugOption = False,
) -> None:
    """The file changes the job made, as a unified diff."""
    from agentctl.changes.history import render_diff
    from agentctl.engine.rollback import diff_job

    store = open_store(db, create=False)
    job_id = store.find_job(job)
    changes = diff_job(store, job_id, step)
    if json_out:
        print(json.dumps([c.summary() for c in changes], indent=2, ensure_ascii=False))
        return
    if not changes:
        sys.stderr.write(
            f"job {job_id} has no recorded file changes{f' in step {step}' if step else ''}\n"
        )
        return
    from agentctl.ui.pager import page

    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    page(render_diff(changes, color=color))


_VERBS = {"restore": "restore", "remove": "remove", "none": "nothing"}
# One question for undoing a job's files, whether `agentctl rollback` or a failed run asks.
ROLLBACK_QUESTION = "roll these changes back?"


def _plan_lines(described: dict[str, Any]) -> list[str]:
    from agentctl.visible import make_visible

    lines = []
    for item in described["plan"]:
        steps = f"  (step {', '.join(item['steps'])})" if item["steps"] else ""
        path = make_visible(item["path"])  # a name that is not UTF-8: `\xNN` for its bytes
        if item["status"] == "conflict":
            lines.append(f"  conflict  {path}: {item['reason']} (left alone; --force overwrites)")
        elif item["status"] == "too_large":
            lines.append(f"  skip      {path}: {item['reason']}")
        elif item["status"] == "unchanged":
            lines.append(f"  ok        {path}: already as before{steps}")
        else:
            lines.append(f"  {_VERBS[item['action']]:<9} {path}{steps}")
    return lines


def print_files_changed(store: Store, job_id: str) -> None:
    """The run's last line: the files the job changed and how to see the diff (none when it
    left no change behind, e.g. after a rollback)."""
    from agentctl.changes.stats import diff_stats
    from agentctl.engine.rollback import diff_job
    from agentctl.ui.words import files_changed_line

    line = files_changed_line(diff_stats(diff_job(store, job_id)), job_id)
    if line:
        print(line)


def rollback_report_lines(done: dict[str, Any]) -> list[str]:
    """What a rollback did, one line per file: the same after `rollback` and a run's offer."""
    from agentctl.visible import make_visible as shown  # a name's bytes that are not UTF-8: \xNN

    return (
        [f"restored  {shown(path)}" for path in done["restored"]]
        + [f"removed   {shown(path)}" for path in done["removed"]]
        + [f"skipped   {shown(p)}: its content was not kept" for p in done["skipped_too_large"]]
        + [f"conflict  {shown(c['path'])}: {c['reason']}" for c in done["conflicts"]]
    )


def rollback_plan_text(preview: dict[str, Any]) -> str:
    """The plan of a rollback (`rollback_job(..., dry_run=True)`), as `rollback` shows it."""
    return "\n".join(_plan_lines(preview))


@app.command()
def rollback(
    job: JobArgument,
    to: Annotated[
        str | None,
        typer.Option("--to", help="Undo only the changes from this step on.", metavar="STEP"),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Roll back without asking.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Also overwrite files changed since the job.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be undone; change nothing.")
    ] = False,
    json_out: JsonOption = False,
    db: DbOption = None,
    debug: DebugOption = False,
) -> None:
    """Undo the job's file changes (from STEP on); files changed since are left alone."""
    from agentctl.engine.rollback import rollback_job

    store = open_store(db, create=False)
    job_id = store.find_job(job)
    say: Say = (lambda text: print(text, file=sys.stderr)) if json_out else print
    preview = rollback_job(store, job_id, to_step=to, force=force, dry_run=True)
    from_step = f" from step {to} on" if to else ""
    if not preview["plan"] or dry_run:
        _show_preview(job_id, preview, from_step, json_out=json_out, say=say)
        return
    if not yes:
        _confirm(job_id, preview, from_step, json_out=json_out, say=say)
    done = rollback_job(store, job_id, to_step=to, force=force, dry_run=False)
    if json_out:
        print(json.dumps(done, indent=2, ensure_ascii=False))
    else:
        for line in rollback_report_lines(done):
            say(line)
    if done["conflicts"]:
        raise _conflicts_error(done, job_id, to, force=force)


def _show_preview(
    job_id: str, preview: dict[str, Any], from_step: str, *, json_out: bool, say: Say
) -> None:
    """`rollback --dry-run`, or a rollback with nothing to do: the plan, changing nothing."""
    if json_out:
        print(json.dumps(preview, indent=2, ensure_ascii=False))
    elif not preview["plan"]:
        say(f"job {job_id}: nothing to roll back{from_step}")
    else:
        say(f"job {job_id}: would roll back{from_step}:")
        for line in _plan_lines(preview):
            say(line)


def _confirm(
    job_id: str, preview: dict[str, Any], from_step: str, *, json_out: bool, say: Say
) -> None:
    """Ask before rolling back (exit 1 on no); without a terminal, --yes is required."""
    from agentctl.cli.options import is_interactive

    count = plural(len(preview["plan"]), "file")
    if not is_interactive(False):
        raise UsageError(
            f"rolling back job {job_id} would change {count}",
            f"review with `agentctl diff {job_id}`, then add --yes",
        )
    say(f"job {job_id}: roll back {count}{from_step}:")
    say(rollback_plan_text(preview))
    if not typer.confirm(ROLLBACK_QUESTION, err=json_out):
        raise typer.Exit(1)


def _conflicts_error(
    done: dict[str, Any], job_id: str, to: str | None, *, force: bool
) -> AgentctlError:
    """Files a rollback left alone: in the way (with --force), or changed since the job."""
    files = plural(len(done["conflicts"]), "file")
    if force:
        return AgentctlError(
            f"{files} could not be put back safely",
            "a symlink or a directory is in the way; fix those paths by hand",
            exit_code=1,
        )
    return AgentctlError(
        f"{files} changed since the job; left alone",
        f"look at them, then `agentctl rollback {job_id}"
        + (f" --to {to}" if to else "")
        + " --force` to overwrite them",
        exit_code=1,
    )
