"""The tools an agent can call: the built-in set and a recipe's custom command tools.

`build_toolbox` is what the engine uses: it returns the named tools, each with a `spec` the
model sees and a `run(args, ctx)` that returns a ToolResult and never raises for a failure
the model caused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentctl.errors import UsageError
from agentctl.tools.base import Tool, ToolContext, ToolResult, ToolSpec
from agentctl.tools.custom import CommandTool
from agentctl.tools.files import build_file_tools, resolve_in_workspace
from agentctl.tools.http import build_http_tool
from agentctl.tools.interactive import build_interactive_tool, close_sessions
from agentctl.tools.shell import build_shell_tool

BUILTIN_TOOLS: tuple[str, ...] = (
    "read_file",
    "write_file",
    "edit_file",
    "list_files",
    "shell",
    "http_get",
)
# Built-in tools a recipe gets only by naming them (not in the names=None default set):
# `interactive` keeps terminal sessions open across calls.
OPTIONAL_TOOLS: tuple[str, ...] = ("interactive",)


def build_builtin_tools() -> dict[str, Tool]:
    tools: dict[str, Tool] = dict(build_file_tools())
    tools["shell"] = build_shell_tool()
    tools["http_get"] = build_http_tool()
    return {name: tools[name] for name in BUILTIN_TOOLS}


def build_toolbox(custom_tools: Mapping[str, Any], names: list[str] | None) -> dict[str, Tool]:
    """Return the tools by name: the default built-ins and custom tools, or exactly `names`.

    OPTIONAL_TOOLS are available only when `names` lists them.
    """
    custom: dict[str, Tool] = {}
    for name, definition in (custom_tools or {}).items():
        if name in BUILTIN_TOOLS or name in OPTIONAL_TOOLS:
            raise UsageError(
                f"custom tool {name!r} has the name of a built-in tool",
                "rename the custom tool",
            )
        # Built even when not selected, so a bad definition is reported whatever is chosen.
        custom[name] = CommandTool(name, definition)
    defaults: dict[str, Tool] = {**build_builtin_tools(), **custom}
    available: dict[str, Tool] = {**defaults, "interactive": build_interactive_tool()}
    wanted = list(defaults) if names is None else list(dict.fromkeys(names))
    unknown = [n for n in wanted if n not in available]
    if unknown:
        raise UsageError(
            f"unknown tool {', '.join(repr(n) for n in unknown)}",
            f"known tools: {', '.join(available)}",
        )
    return {name: available[name] for name in wanted}


__all__ = [
    "BUILTIN_TOOLS",
    "OPTIONAL_TOOLS",
    "Tool",
    "ToolContext",
    "ToolResult",
    "ToolSpec",
    "build_builtin_tools",
    "build_toolbox",
    "close_sessions",
    "resolve_in_workspace",
]
