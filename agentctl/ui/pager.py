"""Long output for a person (`diff`, `log`) goes through their pager on a terminal.

Never in a pipe or a file (`agentctl log JOB | grep` reads plain lines), never for `--json`
(the caller does not ask), and not when `PAGER` is set empty or to `cat`; unset, it is
`less -R`. The pager itself runs in `agentctl.process.pager`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TextIO

DEFAULT_PAGER = "less -R"


def pager_command(environ: Mapping[str, str], *, terminal: bool) -> str | None:
    """The pager to run, or None to print straight out."""
    if not terminal:
        return None
    command = environ.get("PAGER", DEFAULT_PAGER).strip()
    if not command or command == "cat":
        return None
    return command


def page(text: str, stream: TextIO | None = None) -> None:
    """Show `text` through the pager when `stream` (stdout) is a terminal, else write it."""
    stream = stream or sys.stdout
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError):
        terminal = False
    command = pager_command(os.environ, terminal=terminal)
    if command is not None:
        from agentctl.process.pager import run_pager

        stream.flush()
        if run_pager(command, text):
            return
    stream.write(text)
    stream.flush()
