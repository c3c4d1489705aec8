"""Custom command tools: a recipe's shell command template with typed `{name}` parameters.

Each `{name}` of a declared parameter is replaced by `shlex.quote` of the argument's text, so
an argument is always one shell word and can never inject shell syntax. `str.format` is never
used: braces that are not a declared parameter (`${HOME}`, `awk '{print}'`) stay as written.
The definition is duck-typed (description, command, params, read_only, timeout) so this
module does not depend on the recipe model. A custom tool runs like the shell tool (through
`run_command_tool`): confined as `ctx.sandbox` says, and it leaves `ctx.confinement` for
the engine.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from agentctl.errors import UsageError
from agentctl.tools.base import ToolContext, ToolResult, ToolSpec, Touches
from agentctl.tools.function import (
    JSON_TYPES,
    FunctionTool,
    build_object_schema,
    describe_param,
)
from agentctl.tools.shell import run_command_tool

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# What OpenAI-style APIs accept as a function name.
TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def format_arg(value: Any, type_: str) -> str:
    """Return an argument as the text a shell command should see."""
    if value is None:
        return ""
    if type_ == "boolean":
        return "true" if value else "false"
    if type_ == "integer":
        return str(int(value))
    return str(value)


def render_command(template: str, values: dict[str, Any], types: dict[str, str]) -> str:
    """Substitute declared `{name}` placeholders with shell-quoted argument text."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in types:
            return match.group(0)
        return shlex.quote(format_arg(values.get(name), types[name]))

    return PLACEHOLDER.sub(substitute, template)


def build_command_spec(name: str, definition: Any) -> ToolSpec:
    """Return the ToolSpec of a custom tool; raise UsageError for an unusable definition."""
    if not TOOL_NAME.match(name):
        raise UsageError(
            f"custom tool name {name!r} is not usable as a tool name",
            "use 1-64 letters, digits, '_' or '-'",
        )
    properties: dict[str, dict[str, Any]] = {}
    required: list[str] = []
    for pname, param in (getattr(definition, "params", None) or {}).items():
        type_ = getattr(param, "type", "string") or "string"
        if type_ not in JSON_TYPES:
            raise UsageError(
                f"custom tool {name!r}: parameter {pname!r} has unsupported type {type_!r}",
                f"use one of: {', '.join(JSON_TYPES)}",
            )
        extra: dict[str, Any] = {}
        default = getattr(param, "default", None)
        if default is not None:
            extra["default"] = default
        properties[pname] = describe_param(
            type_, getattr(param, "description", "") or pname, **extra
        )
        # A parameter with a default is never missing, so the model need not send it.
        if getattr(param, "required", False) and default is None:
            required.append(pname)
    description = (
        getattr(definition, "description", "") or ""
    ).strip() or f"Run the {name} command."
    return ToolSpec(
        name,
        description,
        build_object_schema(properties, required),
        read_only=bool(getattr(definition, "read_only", False)),
        idempotent=bool(getattr(definition, "idempotent", False)),
        kind="custom",
        # Its command line is the recipe's, not the model's: the policy looks for paths in
        # the arguments the model fills in.
        touches=Touches(processes=True),
    )


class CommandTool(FunctionTool):
    """A custom tool: validated arguments are quoted into the command template and run."""

    def __init__(self, name: str, definition: Any):
        self.command = str(definition.command)
        self.timeout: float | None = getattr(definition, "timeout", None)
        super().__init__(build_command_spec(name, definition), self.run_command)

    def run_command(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        types = {n: s["type"] for n, s in self.spec.parameters["properties"].items()}
        command = render_command(self.command, args, types)
        # The tool's own timeout, when the recipe sets one, replaces the context's.
        return run_command_tool(command, ctx, timeout=self.timeout)
