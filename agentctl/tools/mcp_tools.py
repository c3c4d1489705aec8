"""MCP tools as agentctl tools: their names, which ones a step selects, pins, and McpTool.

An MCP tool is named `SERVER.TOOL` everywhere a person reads or writes a tool name (recipes,
policies, the log, status). Providers accept only `^[a-zA-Z0-9_-]{1,64}$` as a function name,
so the model sees `SERVER__TOOL` (characters outside that set become `_`; a name too long,
or one that would collide, is cut and given a hash suffix); the spec's `qualified_name`
maps it back, and only the qualified name reaches the policy and the log.

Pins are the rug-pull defence: the sha256 of a tool's name, description and input schema.
The engine records them the first time a job lists a server's tools and compares later
listings with them (`compare_pins`). Nothing here speaks MCP; `mcp_client` does.
"""

from __future__ import annotations

import copy
import fnmatch
import hashlib
import json
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from agentctl.tools.base import ToolContext, ToolResult, ToolSpec, Touches

MODEL_NAME_LIMIT = 64
# `{{ env.NAME }}` in a remote server's header values (the recipe checks nothing else is there).
HEADER_ENV_NAME = re.compile(r"\{\{\s*env\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_-]")


def qualified_name(server: str, tool: str) -> str:
    return f"{server}.{tool}"


def model_name(server: str, tool: str, taken: Iterable[str] = ()) -> str:
    """The function name the model sees for SERVER.TOOL, within providers' limits."""
    name = _NOT_ALLOWED.sub("_", f"{server}__{tool}")
    taken = set(taken)
    if len(name) <= MODEL_NAME_LIMIT and name not in taken:
        return name
    digest = hashlib.sha256(qualified_name(server, tool).encode()).hexdigest()[:8]
    return f"{name[: MODEL_NAME_LIMIT - 9]}_{digest}"


def is_mcp_name(name: str) -> bool:
    server, dot, tool = name.partition(".")
    return bool(dot and server and tool)


def selects(patterns: Iterable[str], server: str, tool: str) -> bool:
    """Whether an agent's `tools:` (names and globs like `git.*`) selects SERVER.TOOL."""
    name = qualified_name(server, tool)
    return any(is_mcp_name(p) and fnmatch.fnmatchcase(name, p) for p in patterns)


def explicit_tools(patterns: Iterable[str], server: str) -> list[str]:
    """The tools of `server` that `patterns` name exactly (no glob): they must exist."""
    out = []
    for pattern in patterns:
        srv, dot, tool = pattern.partition(".")
        if dot and srv == server and not any(c in tool for c in "*?["):
            out.append(tool)
    return out


class McpCaller(Protocol):
    """What an McpTool calls through: the run's McpHub (mcp_client), or a test's stand-in."""

    def call(
        self,
        name: str,
        tool: str,
        args: dict[str, Any],
        *,
        timeout: float,
        cancel: threading.Event | None = None,
        output_cap: int = ...,
    ) -> ToolResult: ...


@dataclass(frozen=True)
class ListedTool:
    """One tool as a server lists it (annotations are kept for display, never trusted)."""

    server: str
    name: str
    description: str
    input_schema: dict[str, Any]
    annotations: dict[str, Any] | None = None

    @property
    def qualified(self) -> str:
        return qualified_name(self.server, self.name)

    @property
    def pin(self) -> str:
        return pin_hash(self.name, self.description, self.input_schema)

    def pinned(self) -> dict[str, Any]:
        """What the log keeps of it: enough to show a later difference."""
        return {
            "hash": self.pin,
            "description": self.description,
            "input_schema": self.input_schema,
        }


def pin_hash(name: str, description: str, schema: dict[str, Any]) -> str:
    canonical = json.dumps(
        {"name": name, "description": description, "input_schema": schema},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass
class PinChange:
    changed: list[str]  # tool names whose description or schema differ
    added: list[str]
    removed: list[str]
    diff: str  # a unified diff of the changed tools, as a person reads it

    def __bool__(self) -> bool:
        return bool(self.changed or self.added)


def _pretty(entry: dict[str, Any]) -> list[str]:
    shown = {"description": entry.get("description", ""), "input_schema": entry.get("input_schema")}
    return json.dumps(shown, indent=2, sort_keys=True, ensure_ascii=False).splitlines()


def compare_pins(
    server: str, pinned: dict[str, dict[str, Any]], listed: dict[str, dict[str, Any]]
) -> PinChange:
    """How `listed` ({tool: pinned()}) differs from what the job pinned."""
    changed = sorted(n for n in listed if n in pinned and listed[n]["hash"] != pinned[n]["hash"])
    added = sorted(n for n in listed if n not in pinned)
    removed = sorted(n for n in pinned if n not in listed)
    import difflib  # ~7 ms to import, needed only here

    lines: list[str] = []
    for name in changed + added:
        before = _pretty(pinned[name]) if name in pinned else []
        lines += difflib.unified_diff(
            before,
            _pretty(listed[name]),
            fromfile=f"{server}.{name} (pinned)" if name in pinned else "/dev/null",
            tofile=f"{server}.{name} (now)",
            lineterm="",
        )
    return PinChange(changed, added, removed, "\n".join(lines))


class McpTool:
    """An MCP server's tool as the agent loop calls it: through the hub that holds the server.

    `hub` is the run's McpHub (see mcp_client). The spec carries the facts: the qualified
    name SERVER.TOOL, the remote server's host (decided by `hosts:` rules), and whether
    the server is a process (a stdio server runs in the sandbox).
    """

    def __init__(
        self,
        listed: ListedTool,
        *,
        hub: McpCaller,
        model_name: str,
        read_only: bool,
        host: str | None = None,
        timeout: float | None = None,
    ):
        self.listed = listed
        self.hub = hub
        self.timeout = timeout
        schema = dict(listed.input_schema or {})
        schema.setdefault("type", "object")
        schema.setdefault("properties", {})
        self.spec = ToolSpec(
            model_name,
            (listed.description or f"The {listed.qualified} tool.").strip(),
            schema,
            read_only=read_only,
            # Nothing declared: the policy looks for paths in every string argument. A stdio
            # server is a process, so the sandbox settings (and their escalation) apply.
            touches=Touches(processes=host is None),
            kind="mcp",
            qualified_name=listed.qualified,
            host=host,
        )

    def shown_as(self, model_name: str) -> McpTool:
        """This tool under another name for the model (the one free in a step's toolbox)."""
        if model_name == self.spec.name:
            return self
        renamed = copy.copy(self)
        renamed.spec = replace(self.spec, name=model_name)
        return renamed

    def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        timeout = ctx.timeout if self.timeout is None else min(ctx.timeout, self.timeout)
        return self.hub.call(
            self.listed.server,
            self.listed.name,
            args,
            timeout=timeout,
            cancel=ctx.cancel,
            output_cap=ctx.output_cap,
        )
