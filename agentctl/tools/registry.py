"""The one tool registry: tools by name, each with the spec that says what it touches.

A `ToolRegistry` holds the tools a job may offer its agents. `builtin_registry()` (in
`agentctl.tools.builtin`) starts one with the built-in tools; `agentctl.tools.toolbox` adds a
recipe's custom command tools, and the engine its MCP servers' tools. Anything that can be
called as a tool enters through `ToolRegistry.register`: its `ToolSpec` carries the facts
(kind, read-only, what it touches, required arguments) that the policy, change recording
and the engine read, so nothing else keeps a list of tool names.
"""

from __future__ import annotations

from collections.abc import Iterable

from agentctl.errors import UsageError
from agentctl.tools.base import Tool, ToolSpec
from agentctl.tools.mcp_tools import McpTool, is_mcp_name, model_name, selects


class ToolRegistry:
    """Tools by qualified name, in registration order; `default` ones are what a step gets
    when it names no tools, the others only when a step names them (an MCP tool by
    SERVER.TOOL or a glob such as `git.*`)."""

    def __init__(self, tools: Iterable[tuple[Tool, bool]] = ()):
        self._tools: dict[str, Tool] = {}
        self._default: dict[str, bool] = {}
        for tool, default in tools:
            self.register(tool, default=default)

    def register(self, tool: Tool, *, default: bool = True) -> None:
        """Add a tool; a name can be registered once (a custom tool cannot shadow a built-in)."""
        name = tool.spec.qualified_name
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
        """The tools a step offers, keyed by the name the model sees: the default ones, or
        exactly `names` (unknown ones refused) and the MCP tools their SERVER.TOOL patterns
        select (an exact one missing is reported when the run lists the server's tools)."""
        patterns = list(dict.fromkeys(names or []))
        wanted = (
            list(self.default_names())
            if names is None
            else [n for n in patterns if not is_mcp_name(n) and "." not in n]
        )
        unknown = [n for n in wanted if n not in self._tools]
        if unknown:
            known = [n for n in self._tools if not isinstance(self._tools[n], McpTool)]
            raise UsageError(
                f"unknown tool {', '.join(repr(n) for n in unknown)}",
                f"known tools: {', '.join(known)}",
            )
        chosen: dict[str, Tool] = {name: self._tools[name] for name in wanted}
        for tool in self._tools.values():
            if not isinstance(tool, McpTool):
                continue
            server, tool_name = tool.listed.server, tool.listed.name
            if selects(patterns, server, tool_name):
                # Free of the names already offered, in registration (listing) order.
                shown = model_name(server, tool_name, chosen)
                chosen[shown] = tool.shown_as(shown)
        return chosen
