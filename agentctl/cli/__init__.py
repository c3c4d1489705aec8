"""The command line: the typer app (agentctl/cli/app.py, with the error boundary), the
command modules that add their commands to it, and `main`, the `agentctl` entry point."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

# The command modules: importing one adds its commands to `app` (a new noun goes here).
from agentctl.cli import (  # noqa: F401
    apply,
    approvals,
    completion,
    doctor,
    jobs,
    mcp,
    models,
    policy,
    rollback,
    run,
    start,
    validate,
    watch,
    worker,
)
from agentctl.cli.app import app
from agentctl.cli.help_text import reflow_help

reflow_help(app)  # docstrings wrap to the terminal, not to the source's line width


def _command_name(info: Any) -> str | None:
    """The name a registered command or group answers to on the command line."""
    if getattr(info, "typer_instance", None) is not None:  # a group (add_typer)
        name = info.name or info.typer_instance.info.name
        return str(name) if name else None
    if info.name:
        return str(info.name)
    callback = getattr(info, "callback", None)
    return callback.__name__.lower().replace("_", "-") if callback else None


def _keep_only_the_command_asked(args: Sequence[str]) -> None:
    """typer builds a click command for every registered command at each start (~20 ms, most
    of it reading signatures); when the command line names one, only that one is built. `--help`
    and `--version` before it, shell completion, and a name that is not a command keep them all
    (so the list, and "no such command" with its suggestion, are as before)."""
    if any(key.startswith("_AGENTCTL_COMPLETE") for key in os.environ):
        return
    i = 0
    while i < len(args) and args[i].startswith("-"):
        if args[i] not in ("--db", "--debug") and not args[i].startswith("--db="):
            return  # --help, --version, --install-completion...: the whole app answers
        i += 2 if args[i] == "--db" else 1
    if i >= len(args):
        return
    commands = [c for c in app.registered_commands if _command_name(c) == args[i]]
    groups = [g for g in app.registered_groups if _command_name(g) == args[i]]
    if len(commands) + len(groups) == 1:
        app.registered_commands[:] = commands
        app.registered_groups[:] = groups


def main() -> None:
    from agentctl.process.cmdline import hide_db_passwords

    # First of all: a password in `--db` leaves `ps` before anything slower happens.
    warning = hide_db_passwords(sys.argv)
    if warning:
        print(warning, file=sys.stderr)
    from agentctl import gc_tuning

    gc_tuning.loading()  # until the modules a command needs are loaded: see gc_tuning
    _keep_only_the_command_asked(sys.argv[1:])
    app()
