"""Running one action exactly once: record its start, run the tool, record its result.

An action whose result the log holds is answered from the log. One that started but has no
result (its runner died) is uncertain: it runs again by itself only if its tool is read-only;
otherwise a person must approve running it again.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentctl.engine.approvals import Gate
from agentctl.engine.control import Cancelled, LimitExceeded, Limits, Usage
from agentctl.engine.journal import Journal, ReplayIndex
from agentctl.tools.base import DEFAULT_OUTPUT_CAP, DEFAULT_TOOL_TIMEOUT, Tool, ToolContext, ToolResult


@dataclass
class ActionContext:
    workspace: Path
    env: dict[str, str]
    cancel: threading.Event
    limits: Limits
    usage: Usage
    deadline: float | None  # monotonic time when the job's timeout runs out
    tool_timeout: float = DEFAULT_TOOL_TIMEOUT
    output_cap: int = DEFAULT_OUTPUT_CAP


def result_from_log(data: dict[str, Any]) -> ToolResult:
    return ToolResult(ok=data["ok"], output=data.get("output", ""),
                      exit_code=data.get("exit_code"), truncated=data.get("truncated", False),
                      error=data.get("error"))


class ActionRunner:
    def __init__(self, journal: Journal, index: ReplayIndex, gate: Gate, ctx: ActionContext):
        self.journal = journal
        self.index = index
        self.gate = gate
        self.ctx = ctx

    def check_cancel(self) -> None:
        if self.ctx.cancel.is_set():
            raise Cancelled()

    def run(self, *, step: str, key: str, name: str, tool: Tool, args: dict[str, Any],
            timeout: float | None = None) -> ToolResult:
        recorded = self.index.finished.get(key)
        if recorded is not None:
            return result_from_log(recorded)
        read_only = tool.spec.read_only
        if key in self.index.started and not read_only:
            decision, record = self.gate.require(
                step=step, key=key, tool=name, args=args,
                reason="uncertain: this action started but its runner died before recording a"
                       " result; it may or may not have taken effect. Run it again?",
            )
            if decision == "deny":
                result = ToolResult(ok=False, error="denied", output=(
                    f"not run again: {name} was interrupted earlier and running it again was"
                    f" denied by {record.get('decided_by') or 'a person'}"))
                self._finish(step, key, name, result, 0.0)
                return result
        self.check_cancel()
        limits, usage = self.ctx.limits, self.ctx.usage
        if limits.max_tool_calls is not None and usage.tool_calls >= limits.max_tool_calls:
            raise LimitExceeded("max_tool_calls", f"limit max_tool_calls reached:"
                                f" {usage.tool_calls} tool calls of {limits.max_tool_calls}"
                                " allowed")
        tool_timeout = timeout or self.ctx.tool_timeout
        if self.ctx.deadline is not None:
            remaining = self.ctx.deadline - time.monotonic()
            if remaining <= 0:
                raise LimitExceeded("timeout", "limit timeout reached before the next action")
            tool_timeout = min(tool_timeout, remaining)
        self.journal.add("action_started", step, {
            "key": key, "tool": name, "args": args, "read_only": read_only,
        }, add_fields={"tool_calls": 1})
        usage.tool_calls += 1
        # Durable before a side effect: after a power cut the log still says it may have run.
        self.journal.commit(durable=not read_only)
        self.index.started[key] = {"key": key}
        started = time.monotonic()
        result = tool.run(args, ToolContext(
            workspace=self.ctx.workspace, timeout=tool_timeout, output_cap=self.ctx.output_cap,
            env=self.ctx.env, cancel=self.ctx.cancel,
        ))
        self._finish(step, key, name, result, time.monotonic() - started)
        if result.error == "cancelled" or self.ctx.cancel.is_set():
            raise Cancelled()
        return result

    def record(self, *, step: str, key: str, name: str, args: dict[str, Any],
               result: ToolResult) -> ToolResult:
        """Log an action that was refused before running (unknown tool, bad arguments)."""
        recorded = self.index.finished.get(key)
        if recorded is not None:
            return result_from_log(recorded)
        self.journal.add("action_started", step, {"key": key, "tool": name, "args": args,
                                                  "read_only": True})
        self._finish(step, key, name, result, 0.0)
        return result

    def _finish(self, step: str, key: str, name: str, result: ToolResult,
                seconds: float) -> None:
        data = {"key": key, "tool": name, **result.to_dict(), "duration_ms": round(seconds * 1000)}
        self.journal.add("action_finished", step, data)
        self.journal.commit()
        self.index.finished[key] = data
