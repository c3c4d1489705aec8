"""What every tool is: a spec the model sees, whether it is read-only, and a run method.

The engine records an action's start before calling `Tool.run` and its result after, so a
tool never touches the store. A tool never prints; it returns a ToolResult.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

# Default cap on what one tool call may return: head and tail are kept around a marker.
DEFAULT_OUTPUT_CAP = 64 * 1024
DEFAULT_TOOL_TIMEOUT = 600.0


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments (an "object" schema)
    read_only: bool

    def to_openai(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


@dataclass
class ToolContext:
    workspace: Path
    timeout: float = DEFAULT_TOOL_TIMEOUT
    output_cap: int = DEFAULT_OUTPUT_CAP
    env: dict[str, str] = field(default_factory=dict)  # the whole environment a process gets
    cancel: threading.Event = field(default_factory=threading.Event)
    # Confinement of processes (sandbox.py): "required" | "preferred" | "off", as the policy says.
    sandbox: str = "off"
    network: bool = True  # may a confined process reach the network?
    hidden_paths: tuple[Path, ...] = ()  # never visible to a confined process (the database...)
    # Shown read-only to a confined process although inside a hidden home (a policy named them).
    visible_paths: tuple[Path, ...] = ()
    # Long-lived per-step state of tools (e.g. interactive sessions), closed when the step ends.
    sessions: dict[str, Any] = field(default_factory=dict)


@dataclass
class ToolResult:
    ok: bool
    output: str
    exit_code: int | None = None
    truncated: bool = False
    error: str | None = None  # short reason when not ok ("timeout", "cancelled", ...)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "output": self.output,
            "exit_code": self.exit_code,
            "truncated": self.truncated,
            "error": self.error,
        }


class Tool(Protocol):
    spec: ToolSpec

    def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult: ...
