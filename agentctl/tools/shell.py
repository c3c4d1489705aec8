"""The shell tool, and `run_command_tool`, which custom command tools share with it.

A command runs through `agentctl.process.run.run_process` in the workspace with the context's
environment, timeout, cancel event and output cap, confined as the context's `sandbox`
settings say (`required` refuses with a message the model sees when no sandbox works here).
Its exit status becomes `ok`, so the model sees failures as results it can react to. How the
command was confined is left for the engine in `ctx.confinement` (see `sandbox_for`).
"""

from __future__ import annotations

from typing import Any

from agentctl.process.confine import Sandbox, resolve_sandbox
from agentctl.process.run import minimal_env, run_process, with_absolute_path
from agentctl.tools.base import ToolContext, ToolResult, ToolSpec, Touches
from agentctl.tools.function import (
    FunctionTool,
    build_object_schema,
    describe_param,
    fail,
)


def run_command_tool(command: str, ctx: ToolContext, timeout: float | None = None) -> ToolResult:
    """Run a shell command for a tool and describe its outcome as a ToolResult."""
    if not ctx.workspace.is_dir():
        return fail(f"workspace {ctx.workspace} does not exist", "no_workspace")
    limit = ctx.timeout if timeout is None else timeout
    sandbox = sandbox_for(ctx)
    if sandbox.refusal is not None:
        return fail(sandbox.refusal, "sandbox_unavailable")
    result = run_process(
        command,
        cwd=ctx.workspace,
        env=context_env(ctx),
        timeout=limit,
        cancel=ctx.cancel,
        output_cap=ctx.output_cap,
        sandbox=sandbox,
    )
    output = result.output
    if result.timed_out or result.cancelled:
        note = (
            f"[timed out after {limit:g}s; stopped]" if result.timed_out else "[cancelled; stopped]"
        )
        return ToolResult(
            ok=False,
            output=_append_line(output, note),
            exit_code=result.exit_code,
            truncated=result.truncated,
            error="timeout" if result.timed_out else "cancelled",
        )
    if result.exit_code != 0:
        return ToolResult(
            ok=False,
            output=_append_line(output, f"[exit code {result.exit_code}]"),
            exit_code=result.exit_code,
            truncated=result.truncated,
            error="nonzero_exit",
        )
    return ToolResult(ok=True, output=output, exit_code=0, truncated=result.truncated)


def context_env(ctx: ToolContext) -> dict[str, str]:
    # An empty context env means "not configured", not "no variables": a command without
    # PATH or HOME misbehaves in confusing ways, and minimal_env leaks no secrets.
    return with_absolute_path(ctx.env) if ctx.env else minimal_env()


def sandbox_for(ctx: ToolContext) -> Sandbox:
    """How a process this action starts runs under `ctx.sandbox` here, left for the engine
    to log in `ctx.confinement` (`Sandbox.record`) before anything starts."""
    sandbox = resolve_sandbox(ctx.sandbox)
    ctx.confinement = sandbox.record()
    return sandbox


def _append_line(output: str, line: str) -> str:
    if output and not output.endswith("\n"):
        output += "\n"
    return output + line


def run_shell(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    command = args["command"]
    if not command.strip():
        return fail("argument 'command' is empty", "bad_args")
    return run_command_tool(command, ctx)


def build_shell_tool() -> FunctionTool:
    spec = ToolSpec(
        "shell",
        "Run a bash command in the workspace directory (stdin is empty; stdout and stderr "
        "are merged; long output keeps its head and tail).",
        build_object_schema(
            {"command": describe_param("string", "The bash command line to run.")}, ["command"]
        ),
        read_only=False,
        touches=Touches(command="command", processes=True),
    )
    return FunctionTool(spec, run_shell)
