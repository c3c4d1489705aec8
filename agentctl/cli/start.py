"""Getting started and tooling: `agentctl init`, `agentctl schema`, `agentctl completion`
(and `--version`, which lives on the app's callback)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agentctl.cli.app import app
from agentctl.cli.options import DebugOption, UnusedDbOption
from agentctl.errors import UsageError


def complete_examples(incomplete: str) -> list[tuple[str, str]]:
    from agentctl.starters import EXAMPLES

    return [(n, e.about) for n, e in EXAMPLES.items() if n.startswith(incomplete)]


@app.command()
def init(
    example: Annotated[
        str | None,
        typer.Option(
            "--example",
            help="Write this shipped example instead (recipe, scripted session, its files):"
            " triage or fix-failing-test.",
            metavar="NAME",
            autocompletion=complete_examples,
        ),
    ] = None,
    list_examples: Annotated[
        bool, typer.Option("--list", help="List the shipped examples and exit.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite files that exist.")] = False,
    db: UnusedDbOption = None,
    debug: DebugOption = False,
) -> None:
    """Write a commented recipe.yaml and policy.yaml to start from, in the current folder.

    With `--example triage`, write a shipped example that runs with no model key:
    `agentctl init --example triage && agentctl run triage-issues.yaml --replay
    triage-issues.session.jsonl`.
    """
    from agentctl.starters import EXAMPLES, write_start_files

    if list_examples:
        for name, shipped in EXAMPLES.items():
            print(f"{name:<18} {shipped.about}")
        return
    folder = Path.cwd()
    written = write_start_files(folder, example, force=force)
    for path in written:
        print(f"wrote {path}")
    if example:
        print(f"run it (no model key needed): {EXAMPLES[example].command()}")
    else:
        print("next: agentctl validate recipe.yaml policy.yaml && agentctl run recipe.yaml")


@app.command()
def schema(
    kind: Annotated[
        str,
        typer.Argument(
            help="recipe or policy.",
            metavar="recipe|policy",
            autocompletion=lambda incomplete: [
                k for k in ("recipe", "policy") if k.startswith(incomplete)
            ],
        ),
    ],
    db: UnusedDbOption = None,
    debug: DebugOption = False,
) -> None:
    """Print the JSON Schema of recipes or policies (for editors and other tools).

    Editors with yaml-language-server read it from a first line such as
    `# yaml-language-server: $schema=schema/recipe.json`.
    """
    from agentctl.schemas import KINDS, schema_text

    if kind not in KINDS:
        raise UsageError(f"no schema for {kind!r}", "use `agentctl schema recipe` or `policy`")
    print(schema_text(kind), end="")


@app.command()
def completion(
    shell: Annotated[
        str,
        typer.Argument(
            help="bash, zsh or fish.",
            metavar="bash|zsh|fish",
            autocompletion=lambda incomplete: [
                s for s in ("bash", "zsh", "fish") if s.startswith(incomplete)
            ],
        ),
    ],
    db: UnusedDbOption = None,
    debug: DebugOption = False,
) -> None:
    """Print the shell completion script for bash, zsh or fish.

    bash: `agentctl completion bash > ~/.local/share/bash-completion/completions/agentctl`;
    zsh: `agentctl completion zsh > "${fpath[1]}/_agentctl"`;
    fish: `agentctl completion fish > ~/.config/fish/completions/agentctl.fish`.
    """
    from agentctl.cli.completion import completion_script

    print(completion_script(shell), end="")
