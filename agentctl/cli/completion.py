"""Shell completion: the scripts `agentctl completion bash|zsh|fish` prints, and switching on
typer's completion classes when a shell asks for completions (they are not registered
otherwise, since the app has no --install-completion option)."""

from __future__ import annotations

import os

from agentctl.errors import UsageError

COMPLETE_VAR = "_AGENTCTL_COMPLETE"
SHELLS = ("bash", "zsh", "fish")


def completion_script(shell: str) -> str:
    """The script a shell sources to complete agentctl's commands, options and arguments."""
    from typer._completion_shared import get_completion_script

    if shell not in SHELLS:
        raise UsageError(f"no completion for the shell {shell!r}", "use bash, zsh or fish")
    script = get_completion_script(prog_name="agentctl", complete_var=COMPLETE_VAR, shell=shell)
    return script if script.endswith("\n") else script + "\n"


def enable_if_asked() -> None:
    """When a completion script calls agentctl, register the shells it may speak for."""
    if COMPLETE_VAR in os.environ:
        from typer._completion_classes import completion_init

        completion_init()
