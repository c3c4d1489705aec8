"""`agentctl apply JOB`: land a job's file changes in this checkout (changes/landing.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from agentctl.cli.app import app
from agentctl.cli.options import DbOption, DebugOption, JobArgument, JsonOption, open_store
from agentctl.errors import AgentctlError
from agentctl.ui.words import plural


@app.command()
def apply(
    job: JobArgument,
    into: Annotated[
        Path | None,
        typer.Option(
            "--to",
            help="The folder to land the changes in (default: the current folder).",
            metavar="DIR",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Also overwrite files that differ from the job's start."),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be written; change nothing.")
    ] = False,
    json_out: JsonOption = False,
    db: DbOption = None,
    debug: DebugOption = False,
) -> None:
    """Land the job's file changes here, like `git apply` of `agentctl diff JOB`: for a job a
    worker ran in a clone on another machine, or to repeat a change in another checkout.

    Each file is written only where it still holds what the job started from; a file that
    holds something else is a conflict, left alone (exit 1) unless --force. A file that
    already holds the result counts as done, so applying twice changes nothing.
    """
    from agentctl.engine.rollback import apply_job

    store = open_store(db, create=False)
    job_id = store.find_job(job)
    folder = into or Path.cwd()
    if not folder.is_dir():
        raise AgentctlError(f"{folder} is not a folder", "pass --to DIR", exit_code=2)
    done = apply_job(store, job_id, folder, force=force, dry_run=dry_run)
    if json_out:
        print(json.dumps(done, indent=2, ensure_ascii=False))
    elif not done["plan"]:
        print(f"job {job_id} has no file changes to apply")
    else:
        verb = {"restore": "write", "remove": "remove"}
        for item in done["plan"]:
            if item["status"] == "unchanged":
                print(f"  done      {item['path']}: already as the job left it")
            elif item["status"] in ("conflict", "too_large"):
                print(f"  {'conflict' if item['status'] == 'conflict' else 'skip':<9} "
                      f"{item['path']}: {item['reason']}")  # fmt: skip
            else:
                print(f"  {verb[item['action']]:<9} {item['path']}")
    conflicts = [] if dry_run else done.get("conflicts", [])
    if conflicts:
        raise AgentctlError(
            f"{plural(len(conflicts), 'file')} here differ from what job {job_id} started from;"
            " left them alone",
            f"compare with `agentctl diff {job_id}`, then `agentctl apply {job_id} --force`",
            exit_code=1,
        )
