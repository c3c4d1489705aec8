"""The one tool registry: tools by name, each with the spec that says what it touches.

A `ToolRegistry` holds the tools a job may offer its agents. `builtin_registry()` (in
`agentctl.tools.builtin`) starts one with the built-in tools; `build_toolbox` adds a recipe's
custom command tools and picks the tools a step names. Anything that can be called as a tool
(a custom command, later an MCP server's tool) enters through `ToolRegistry.register`: its
`ToolSpec` carries the facts (read-only, what it touches, required arguments) that the
policy, change recording and the engine read, so nothing else keeps a list of tool names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from agentctl.errors import UsageError
from agentctl.tools.base import Tool, ToolSpec


class ToolRegistry:
    """Tools by name, in registration order; `default` ones are what a step gets when it
    names no tools, the others only when a step names them."""

    def __init__(self, tools: Iterable[tuple[Tool, bool]] = ()):
        self._tools: dict[str, Tool] = {}
        self._default: dict[str, bool] = {}
        for tool, default in tools:
            self.register(tool, default=default)

    def register(self, tool: Tool, *, default: bool = True) -> None:
        """Add a tool; a name can be registered once (a custom tool cannot shadow a built-in)."""
        name = tool.spec.name
        if name in self._tools:
            raise UsageError(
                f"tool {name!r} is defined twice (a custom tool has the name of a built-in?)",
                "rename the custom tool",
            )
        self._tools[name] = tool
        self._default[name] = default

    def copy(self) -> ToolRegistry:
        return ToolRegistry((tool, self._default[name]) for name, tool in self._tools.items())

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def spec(self, name: str) -> ToolSpec | None:
        tool = self._tools.get(name)
        return tool.spec if tool is not None else None

    def names(self) -> tuple[str, ...]:
        return tuple(self._tools)

    def default_names(self) -> tuple[str, ...]:
        return tuple(name for name in self._tools if self._default[name])

    def optional_names(self) -> tuple[str, ...]:
        return tuple(name for name in self._tools if not self._default[name])

    def select(self, names: list[str] | None) -> dict[str, Tool]:
        """The tools by name: the default ones, or exactly `names` (unknown ones refused)."""
        # SERVER.TOOL names are MCP tools, which the run's MCP servers provide (engine/mcp.py).
        wanted = (
            list(self.default_names())
            if names is None
            else [n for n in dict.fromkeys(names) if "." not in n]
        )
        unknown = [n for n in wanted if n not in self._tools]
        if unknown:
            raise UsageError(
                f"unknown tool {', '.join(repr(n) for n in unknown)}",
                f"known tools: {', '.join(self._tools)}",
            )
        return {name: self._tools[name] for name in wanted}


def build_toolbox(custom_tools: Mapping[str, Any], names: list[str] | None) -> dict[str, Tool]:
    """Return the tools by name: the default built-ins and custom tools, or exactly `names`.

    Optional built-ins (`interactive`) are available only when `names` lists them.
    """
    from agentctl.tools.builtin import BUILTIN_TOOLS, OPTIONAL_TOOLS, builtin_registry
    from agentctl.tools.custom import CommandTool

    registry = builtin_registry()
    custom: list[Tool] = []
    for name, definition in (custom_tools or {}).items():
        if name in BUILTIN_TOOLS or name in OPTIONAL_TOOLS:
            raise UsageError(
                f"custom tool {name!r} has the name of a built-in tool",
                "rename the custom tool",
            )
        # Built even when not selected, so a bad definition is reported whatever is chosen.
        custom.append(CommandTool(name, definition))
    for tool in custom:
        registry.register(tool)
    return registry.select(names)
