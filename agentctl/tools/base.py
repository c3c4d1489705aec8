"""What every tool is: a spec (what the model sees, what the tool touches, whether it is
read-only) and a run method.

The spec's facts are the one place the rest of agentctl learns about a tool: the policy reads
`touches` to find the paths, hosts and commands an action reaches, change recording reads
`read_only` and `touches` to know what to snapshot, the engine reads `touches.processes` for
confinement, and `policy explain` reads the required arguments. The log, the live view, the
approval prompt and the GitHub summary show an action by its `qualified_name` and its
`subject` (`describe_action` in `builtin` answers it for a logged tool name). The engine records an
action's start before calling `Tool.run` and its result after, so a tool never touches the
store. A tool never prints; it returns a ToolResult.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from agentctl.process.run import DEFAULT_OUTPUT_CAP
from agentctl.process.sandbox import SandboxSettings

DEFAULT_TOOL_TIMEOUT = 600.0

# Where a tool comes from: agentctl itself, a recipe's `tools:` (a command), an MCP server.
ToolKind = Literal["builtin", "custom", "mcp"]


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
    # What it starts and what is typed into it (a terminal session) run as shell commands
    # would: the policy decides `command` (action=start) and `input` (action=send) as such.
    terminal: bool = False


def call_subject(args: Mapping[str, object], arg: str | None = None) -> str:
    """What an action reaches, whole: the argument `arg` names, else its path or URL, else
    its arguments as JSON (callers shorten it with `visible.one_line`)."""
    for key in (arg, "path", "url"):
        if key and key in args:
            return str(args[key])
    return json.dumps(dict(args), ensure_ascii=False)


@dataclass(frozen=True)
class ToolSpec:
    name: str  # the function name the model sees
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments (an "object" schema)
    read_only: bool
    touches: Touches = Touches()
    # Running it twice does what running it once does (a recipe says so with `idempotent:
    # true`): after a crash it runs again without asking, as a read-only tool does.
    idempotent: bool = False
    kind: ToolKind = "builtin"
    # The name people, policies and the log know it by (an MCP tool's SERVER.TOOL, which
    # the model sees as SERVER__TOOL); `name` when not given.
    qualified_name: str = ""
    # The host a remote (MCP over HTTP) server's tool reaches; the recipe chose it, not the
    # model, so `hosts:` rules match it but the private-address refusal does not apply.
    host: str | None = None

    def __post_init__(self) -> None:
        if not self.qualified_name:
            object.__setattr__(self, "qualified_name", self.name)

    def subject(self, args: Mapping[str, object]) -> str:
        """What an action of this tool reaches, whole: its command line, path or URL."""
        return call_subject(args, self.subject_arg)

    def command_line(self, args: Mapping[str, object]) -> str | None:
        """The bash command line an action of this tool runs, if it takes one."""
        arg = self.touches.command
        return str(args[arg]) if arg and arg in args else None

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
