"""`agentctl doctor [RECIPE]`: what this machine gives agentctl (engine/doctor.py checks)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from agentctl.cli.app import app
from agentctl.cli.options import GLOBAL, DbOption, DebugOption, JsonOption

_MARKS = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}


@app.command()
def doctor(
    recipe: Annotated[
        Path | None,
        typer.Argument(
            help="Also check this recipe's models: a model and a key for each role, and "
            "whether each endpoint answers.",
            metavar="RECIPE",
        ),
    ] = None,
    json_out: JsonOption = False,
    db: DbOption = None,
    debug: DebugOption = False,
) -> None:
    """Check what agentctl needs here: versions, the job database (where, backend, size),
    the sandbox (does bubblewrap confine shell tools here, and why not), which provider keys
    are set (names only, never values), and with RECIPE its model endpoints.

    Exit 0 when nothing fails (warnings allowed), 1 when a check fails, 2 for bad input
    (a recipe that does not load). `--json` prints {"ok": ..., "checks": [...]}.

    \b
    agentctl doctor
    agentctl doctor recipes/fix-failing-test.yaml --json
    """
    from agentctl.engine.doctor import diagnose

    report = diagnose(db or GLOBAL.db, recipe)
    if json_out:
        print(json.dumps(report.as_json(), indent=2))
    else:
        for finding in report.findings:
            print(f"{_MARKS[finding.status]}  {finding.name}: {finding.detail}")
            if finding.hint and finding.status != "ok":
                print(f"      hint: {finding.hint}")
    if not report.ok:
        raise typer.Exit(1)
