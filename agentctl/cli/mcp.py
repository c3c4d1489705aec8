"""`agentctl mcp tools RECIPE [--json]`: what a recipe's MCP servers offer, and the policy's say."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from agentctl.cli.app import app
from agentctl.cli.options import DbOption, DebugOption, JsonOption
from agentctl.errors import UsageError

mcp_app = typer.Typer(
    name="mcp", help="Inspect a recipe's MCP servers and their tools.", no_args_is_help=True
)
app.add_typer(mcp_app, name="mcp")


@mcp_app.command()
def tools(
    recipe: Annotated[
        Path, typer.Argument(help="The recipe whose mcp: servers to start.", metavar="RECIPE")
    ],
    policies: Annotated[
        list[str] | None,
        typer.Option(
            "--policy", help="A policy on top of the recipe's (repeatable).", metavar="FILE"
        ),
    ] = None,
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace",
            help="Where stdio servers run (default: the current folder).",
            metavar="DIR",
        ),
    ] = None,
    json_output: JsonOption = False,
    db: DbOption = None,
    debug: DebugOption = False,
) -> None:
    """Start the recipe's MCP servers, list each tool (description, input schema and the
    decision the policies give it), and stop them."""
    from agentctl.cli.options import GLOBAL
    from agentctl.engine.mcp import describe_mcp_tools
    from agentctl.paths import resolve_db_path

    folder = (workspace or Path(os.getcwd())).resolve()
    if not folder.is_dir():
        raise UsageError(f"workspace {folder} is not a directory", "pass an existing --workspace")
    rows = describe_mcp_tools(
        str(recipe),
        list(policies or []),
        workspace=folder,
        env=os.environ,
        db_path=resolve_db_path(db or GLOBAL.db),
    )
    if json_output:
        print(json.dumps({"tools": rows}, indent=2, ensure_ascii=False))
        return
    for row in rows:
        flags = " (read-only)" if row["read_only"] else ""
        print(f"{row['decision']:<5}  {row['tool']}{flags}  [model sees {row['model_name']}]")
        if row["description"]:
            print(f"       {' '.join(row['description'].split())[:200]}")
        properties = row["input_schema"].get("properties") or {}
        required = set(row["input_schema"].get("required") or [])
        args = ", ".join(
            f"{name}{'' if name in required else '?'}: {spec.get('type', 'any')}"
            for name, spec in properties.items()
        )
        print(f"       args: {args or 'none'}")
        print(f"       rules: {', '.join(row['rules'])}")
