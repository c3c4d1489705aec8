"""`agentctl models [RECIPE|FILE.gguf]`: which model each role runs, and for a local GGUF
file its size, sha256 and the name in its metadata (agentctl.models.weights)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from agentctl.cli.app import app
from agentctl.cli.options import DebugOption, JsonOption, UnusedDbOption


@app.command()
def models(
    target: Annotated[
        Path | None,
        typer.Argument(
            help="A recipe (its roles' models), or a .gguf file to describe.",
            metavar="RECIPE|FILE.gguf",
        ),
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            help="As `run --model`: MODEL for the default role, or ROLE=MODEL.",
            metavar="[ROLE=]MODEL",
        ),
    ] = None,
    json_out: JsonOption = False,
    db: UnusedDbOption = None,
    debug: DebugOption = False,
) -> None:
    """Show the models a run would use: each role's model and fallbacks (after --model and
    AGENTCTL_MODEL), and for each local model (`local/PATH.gguf`, or a role's `path:`) the
    file's size, sha256 and the model name, architecture and licence its GGUF header gives.
    agentctl downloads no weights: check here what a file is before running it.

    \b
    agentctl models recipes/ask-a-file.yaml --model local/models/qwen2.5-0.5b.gguf
    agentctl models ~/models/SmolLM2-135M-Instruct.Q4_1.gguf --json
    """
    from agentctl.models.weights import describe_lines, describe_local_model, models_report

    if target is not None and target.suffix.lower() == ".gguf":
        entry = describe_local_model(target.expanduser())
        print(json.dumps(entry, indent=2) if json_out else "\n".join(describe_lines(entry)))
        return
    from agentctl.recipe.load import load_recipe

    if target is not None:
        loaded = load_recipe(str(target))
        roles, base = loaded.recipe.models, loaded.base_dir
    else:
        roles, base = {}, Path.cwd()
    report = models_report(roles, model or [], base, Path.cwd())
    if json_out:
        print(json.dumps({"roles": report}, indent=2))
        return
    if not report:
        print("no model: pass a recipe, --model MODEL, or set AGENTCTL_MODEL")
    for role in report:
        for n, entry in enumerate(role["models"]):
            label = f"role {role['role']}" if n == 0 else "  fallback"
            print(f"{label}: {entry['model']}")
            for line in describe_lines(entry["local"]) if "local" in entry else []:
                print(f"    {line}")
