"""Texts users read name only things that exist: commands in docstrings and help, files in
examples."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from typer.main import get_command
from typer.testing import CliRunner

from agentctl.cli import app

ROOT = Path(__file__).resolve().parents[1]


def command_names() -> set[str]:
    group = get_command(app)
    names = set(group.commands)  # type: ignore[attr-defined]
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        names |= {f"{name} {sub}" for sub in getattr(command, "commands", {})}
    return names


def docstrings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    nodes = [tree, *ast.walk(tree)]
    return [
        doc
        for node in nodes
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and (doc := ast.get_docstring(node))
    ]


def test_every_agentctl_command_named_in_a_docstring_exists():
    known = {name.split()[0] for name in command_names()}
    named = set()
    for path in (ROOT / "agentctl").rglob("*.py"):
        for doc in docstrings(path):
            for match in re.finditer(r"`agentctl ([a-z][a-z-]*)", doc):
                named.add((match.group(1), path.relative_to(ROOT).as_posix()))
    missing = sorted((name, where) for name, where in named if name not in known)
    assert not missing, missing


def test_run_help_names_recipes_that_exist():
    result = CliRunner().invoke(app, ["run", "--help"], terminal_width=200)
    assert result.exit_code == 0
    files = re.findall(r"recipes/[\w./-]+", result.stdout)
    assert files, result.stdout
    for name in files:
        assert (ROOT / name.rstrip(".")).exists(), name


def test_contributing_names_files_that_exist():
    text = (ROOT / "CONTRIBUTING.md").read_text()
    named = set(re.findall(r"`(agentctl/[\w/]+\.py|tests/[\w]+\.py)`", text))
    assert len(named) > 10
    assert not sorted(p for p in named if not (ROOT / p).exists())
