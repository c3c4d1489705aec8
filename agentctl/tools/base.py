"""What every tool is: a spec (what the model sees, what the tool touches, whether it is
read-only) and a run method.

The spec's facts are the one place the rest of agentctl learns about a tool: the policy reads
`touches` to find the paths, hosts and commands an action reaches, change recording reads
`read_only` and `touches` to know what to snapshot, the engine reads `touches.processes` for
confinement, and `policy explain` reads the required arguments. The engine records an
action's start before calling `Tool.run` and its result after, so a tool never touches the
store. A tool never prints; it returns a ToolResult.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from agentctl.process.run import DEFAULT_OUTPUT_CAP
from agentctl.process.sandbox import SandboxSettings

DEFAULT_TOOL_TIMEOUT = 600.0


@dataclass(frozen=True)
class Touches:
    """What a tool's action reaches beyond the model, each named by the argument carrying it.

    A tool that declares nothing is treated as possibly touching anything: the policy looks
    for paths in all its string arguments and the whole workspace is snapshotted around it.
    """

    path: str | None = None  # argument naming one workspace path the tool reads or writes
    writes: bool = False  # that path is written (and it is all the tool may change)
    default_path: str | None = None  # the path when the argument is left out
    url: str | None = None  # argument naming an http(s) URL: its host is what is reached
    command: str | None = None  # argument holding a bash command line (its paths, programs)
    processes: bool = False  # the tool starts processes: the sandbox settings apply


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments (an "object" schema)
    read_only: bool
    touches: Touches = Touches()
    # Running it twice does what running it once does (a recipe says so with `idempotent:
    # true`): after a crash it runs again without asking, as a read-only tool does.
    idempotent: bool = False

    @property
    def rerun_without_asking(self) -> bool:
        """Whether an action that started with no recorded result may simply run again."""
        return self.read_only or self.idempotent

    @property
    def required_args(self) -> tuple[str, ...]:
        return tuple(self.parameters.get("required", ()))

    @property
    def subject_arg(self) -> str | None:
        """The argument that says what the action reaches (its path, URL or command)."""
        return self.touches.command or self.touches.path or self.touches.url

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
    # How processes are confined (mode, network, hidden and shown paths), as the policies say.
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)
    # Asked before each URL is fetched: a refusal reason, or None (the policy's network rules).
    url_checker: Callable[[str], str | None] | None = None
    # Long-lived per-step state of tools (e.g. interactive sessions), closed when the step ends.
    sessions: dict[str, Any] = field(default_factory=dict)
    # Set by a tool that starts a process: how it ran (`Sandbox.record`, tools/shell.sandbox_for).
    confinement: dict[str, Any] | None = None


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
