"""Every command's help wraps to the terminal (issue: typer kept the docstrings' source line
breaks after the first paragraph, so at 80 columns a line broke into a long line and a lone
word)."""

from __future__ import annotations

import inspect

import pytest
from typer.testing import CliRunner

from agentctl.cli import app
from agentctl.cli.help_text import reflow


def _commands(group, prefix=()):  # type: ignore[no-untyped-def]
    for command in group.registered_commands:
        yield (*prefix, command.name or command.callback.__name__.replace("_", "-")), command
    for sub in group.registered_groups:
        yield from _commands(
            sub.typer_instance, (*prefix, sub.name or sub.typer_instance.info.name)
        )


def test_reflow_joins_prose_and_keeps_lists_examples_and_the_private_part():
    text = inspect.cleandoc(
        """First line.

        A paragraph written at the source's
        width goes on.

        - an item that
          continues
        - another

        \b
        agentctl run X \\
            --flag

        \f
        For the source's reader
        only."""
    )
    assert reflow(text) == (
        "First line.\n\nA paragraph written at the source's width goes on.\n\n"
        "- an item that continues\n- another\n\n\b\nagentctl run X \\\n    --flag\n\f\n"
        "For the source's reader\nonly."
    )


def test_no_command_help_keeps_a_source_line_break_inside_a_paragraph():
    commands = list(_commands(app))
    assert len(commands) > 20
    for name, command in commands:
        text = (command.help or "").partition("\f")[0]
        for paragraph in text.split("\n\n"):
            if paragraph.startswith("\b"):
                continue
            for line in paragraph.split("\n")[1:]:
                assert line.startswith(("- ", "* ")) or line[:1].isdigit(), (name, paragraph)


@pytest.mark.parametrize("command", [["worker"], ["doctor"], ["run"], ["queue"]])
def test_help_at_80_columns_has_no_orphaned_word(command):
    """In a wrapped paragraph only the last line is short; a short line inside one is a source
    line break that rich wrapped again (examples, lines starting `agentctl`, are kept)."""
    env = {"COLUMNS": "80", "TERMINAL_WIDTH": "80"}
    result = CliRunner().invoke(app, [*command, "--help"], env=env)
    assert result.exit_code == 0, result.output
    prose = result.output.split("╭")[0]
    paragraphs = [p.splitlines() for p in prose.split("\n" + " " * 80 + "\n")]
    assert len(paragraphs) > 2
    for lines in paragraphs:
        lines = [line.strip() for line in lines if line.strip()]
        if any(line.startswith("agentctl ") for line in lines):
            continue
        for line in lines[:-1]:
            assert len(line) > 50, (command, lines)
