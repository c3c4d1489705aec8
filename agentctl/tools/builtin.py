"""The built-in tools, registered once: the names recipes, the policy and the engine know.

Each built-in lives in its own module with its ToolSpec (read-only, what it touches) and its
handler; this module only lists them. To add a built-in tool, write its module and register
it in `_builtin_tools` (CONTRIBUTING.md, "Adding a built-in tool").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache

from agentctl.tools.base import Tool, ToolSpec, call_subject
from agentctl.tools.registry import ToolRegistry


def _builtin_tools() -> list[tuple[Tool, bool]]:
    """(tool, in the default set) for every built-in, in the order models see them."""
    from agentctl.tools.files import build_file_tools
    from agentctl.tools.http import build_http_tool
    from agentctl.tools.interactive import build_interactive_tool
    from agentctl.tools.shell import build_shell_tool

    files = build_file_tools()
    return [
        (files["read_file"], True),
        (files["write_file"], True),
        (files["edit_file"], True),
        (files["list_files"], True),
        (build_shell_tool(), True),
        (build_http_tool(), True),
        # Keeps terminal sessions open across calls: a step gets it only by naming it.
        (build_interactive_tool(), False),
    ]


@cache
def _builtins() -> ToolRegistry:
    return ToolRegistry(_builtin_tools())


def builtin_registry() -> ToolRegistry:
    """A new registry holding the built-in tools, to which a job adds its own."""
    return _builtins().copy()


def builtin_spec(name: str) -> ToolSpec | None:
    """The spec of a built-in tool, or None for any other name."""
    return _builtins().spec(name)


def builtins_where(fact: Callable[[ToolSpec], object]) -> tuple[str, ...]:
    """The built-ins whose spec has `fact`, e.g. those that write one file
    (`lambda spec: spec.touches.writes`): what the policy asks instead of naming tools."""
    registry = _builtins()
    specs = (registry.spec(name) for name in registry.names())
    return tuple(spec.name for spec in specs if spec is not None and fact(spec))


def action_subject(tool: str, args: Mapping[str, object]) -> str:
    """What a logged action of `tool` reached, whole (a shell command line, a path, a URL):
    the one subject the log, the live view, the approval prompt and the GitHub summary show.

    A built-in's spec says which argument it is; other tools (custom, MCP) are known here
    only by name, so their path or URL argument, else their arguments as JSON, is shown."""
    spec = builtin_spec(tool)
    return spec.subject(args) if spec is not None else call_subject(args)


def action_command(tool: str | None, args: Mapping[str, object]) -> str | None:
    """The bash command line a logged action of `tool` runs, if its tool takes one."""
    spec = builtin_spec(tool) if tool else None
    return spec.command_line(args) if spec is not None else None


def action_writes(tool: str | None) -> bool:
    """Whether a logged action of `tool` writes the one workspace file its `path` names."""
    spec = builtin_spec(tool) if tool else None
    return spec is not None and spec.touches.writes


BUILTIN_TOOLS: tuple[str, ...] = _builtins().default_names()
OPTIONAL_TOOLS: tuple[str, ...] = _builtins().optional_names()
