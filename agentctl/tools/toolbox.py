"""A job's toolbox: the built-ins, the recipe's custom command tools and (added by the
engine) its MCP servers' tools, all in one `ToolRegistry`, from which each step selects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentctl.errors import UsageError
from agentctl.tools.base import Tool
from agentctl.tools.builtin import BUILTIN_TOOLS, OPTIONAL_TOOLS, builtin_registry
from agentctl.tools.custom import CommandTool
from agentctl.tools.registry import ToolRegistry


def build_registry(custom_tools: Mapping[str, Any]) -> ToolRegistry:
    """A new registry: the built-ins and the recipe's custom tools (every definition is
    built, so a bad one is reported whatever a step selects)."""
    registry = builtin_registry()
    custom: list[Tool] = []
    for name, definition in (custom_tools or {}).items():
        if name in BUILTIN_TOOLS or name in OPTIONAL_TOOLS:
            raise UsageError(
                f"custom tool {name!r} has the name of a built-in tool",
                "rename the custom tool",
            )
        custom.append(CommandTool(name, definition))
    for tool in custom:
        registry.register(tool)
    return registry


def build_toolbox(custom_tools: Mapping[str, Any], names: list[str] | None) -> dict[str, Tool]:
    """Return the tools by name: the default built-ins and custom tools, or exactly `names`.

    Optional built-ins (`interactive`) are available only when `names` lists them.
    """
    return build_registry(custom_tools).select(names)
