"""The shell tool, and `run_command_tool`, which custom command tools share with it.

A command runs through `agentctl.process.run.run_process` in the workspace with the context's
environment, timeout, cancel event and output cap, confined as the context's `sandbox` mode
says (`required` refuses with a message the model sees when no sandbox works here), with its
`network` and `hidden_paths`. Its exit status becomes `ok`, so the model sees failures as
results it can react to. How the command was confined is left for the engine in
`ctx.confinement` (see `record_confinement`).
"""

from __future__ import annotations

from typing import Any

from agentctl.process.run import minimal_env, run_process, with_absolute_path
from agentctl.process.sandbox import Confinement, confinement_for, probe_confinement
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
    confinement, refusal = confinement_for(ctx.sandbox, network=ctx.network)
    record_confinement(ctx, confinement, refusal)
    if refusal is not None:
        return fail(refusal, "sandbox_unavailable")
    result = run_process(
        command,
        cwd=ctx.workspace,
        env=context_env(ctx),
        timeout=limit,
        cancel=ctx.cancel,
        output_cap=ctx.output_cap,
        confinement=confinement,
        network=ctx.network,
        hidden_paths=ctx.hidden_paths,
        visible_paths=ctx.visible_paths,
        read_only_workspace=ctx.workspace_read_only,
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


def record_confinement(
    ctx: ToolContext, confinement: Confinement | None, refusal: str | None
) -> None:
    """Tell the engine how this action ran: `ctx.confinement`.

    {"confinement": "bwrap" | "none", "mode": ctx.sandbox, "network": bool,
     "refused": bool, "reason": why unconfined or refused, else None}
    """
    confined = confinement is not None and confinement.available
    reason = refusal
    if reason is None and not confined:
        reason = "sandbox is off" if ctx.sandbox == "off" else probe_confinement().reason
    ctx.confinement = {
        "confinement": "bwrap" if confined else "none",
        "mode": ctx.sandbox,
        "network": ctx.network,
        "refused": refusal is not None,
        "reason": reason,
    }


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
