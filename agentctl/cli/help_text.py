"""Help text that wraps to the terminal: the commands' docstrings are written at the source's
line width, and typer's rich help keeps every line break after the first paragraph, so at 80
columns a docstring line of 88 wraps into a long line and a lone word. `reflow_help` joins
each prose paragraph's lines once, at start, for every command and group; rich wraps them.

Kept as written: a paragraph that starts with click's `\\b` (examples, command lines), and
list items (a line starting with `- `, `* ` or `1. `) start a line of their own."""

from __future__ import annotations

import inspect
import re
from typing import Any

_ITEM = re.compile(r"(?:[-*]|\d+[.)])\s")


def reflow(text: str) -> str:
    """`text` with each paragraph's single line breaks joined (see the module's docstring)."""
    head, mark, tail = text.partition("\f")  # after \f: for the source's reader only
    paragraphs = []
    for paragraph in re.split(r"\n\s*\n", head.strip("\n")):
        lines = [line.strip() for line in paragraph.split("\n")]
        if lines and lines[0] == "\b":
            paragraphs.append(paragraph)
            continue
        joined: list[str] = []
        for line in lines:
            if joined and not _ITEM.match(line):
                joined[-1] += " " + line
            else:
                joined.append(line)
        paragraphs.append("\n".join(joined))
    return "\n\n".join(paragraphs) + ("\n" + mark + tail if mark else "")


def reflow_help(app: Any) -> None:
    """Reflow the help of `app`'s commands and groups, and of their groups', in place."""
    for command in app.registered_commands:
        text = command.help or inspect.getdoc(command.callback)
        if text:
            command.help = reflow(inspect.cleandoc(text))
    for group in app.registered_groups:
        info = group.typer_instance.info
        for holder in (group, info):
            if isinstance(holder.help, str) and holder.help:
                holder.help = reflow(inspect.cleandoc(holder.help))
        reflow_help(group.typer_instance)
