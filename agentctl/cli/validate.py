"""`agentctl validate FILE...`: check recipes without running anything."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agentctl.cli import app, _write_error
from agentctl.cli.options import DebugOption, DbOption
from agentctl.errors import AgentctlError


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="Recipe files.", metavar="FILE...")],
    db: DbOption = None,
    debug: DebugOption = False,
) -> None:
    """Check recipes: schema, types, duplicate keys, templates. Runs nothing.

    Exit 0 when every file is valid, else 2 with an `error:` line per bad file naming
    file:line:column.
    """
    from agentctl.recipe import load_recipe

    bad = 0
    for path in files:
        try:
            loaded = load_recipe(path)
        except AgentctlError as error:
            bad += 1
            _write_error(error.message, error.hint)
            continue
        steps = loaded.recipe.steps
        print(f"ok {path}: recipe {loaded.recipe.name!r}, {len(steps)} step(s)")
    if bad:
        raise typer.Exit(2)
