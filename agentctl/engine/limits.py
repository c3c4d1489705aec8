"""The job-wide limits in force (the recipe's, tightened by its policies), what the job has
used so far, the check made before each model call, and the call itself under the job's
bounds: its deadline, its cancel and the budget it has left."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from agentctl.engine.stops import Cancelled, LimitExceeded
from agentctl.models.bounds import CallBounds, CallCancelled, DeadlineReached
from agentctl.units import format_usd

if TYPE_CHECKING:
    import threading

    from agentctl.models.client import ModelClient
    from agentctl.models.messages import Message, ToolSchema
    from agentctl.models.replies import ModelReply

DEFAULT_MAX_REPEATS = 3


@dataclass
class JobLimits:
    """The job-wide limits in force (None: no limit)."""

    max_turns: int | None = None
    max_tool_calls: int | None = None
    max_cost_usd: float | None = None
    timeout: float | None = None
    # How often one step may repeat an identical action (same tool, same arguments).
    max_repeats: int = DEFAULT_MAX_REPEATS


@dataclass
class Usage:
    model_calls: int = 0
    tool_calls: int = 0
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0


def check_limits(
    limits: JobLimits, usage: Usage, *, active_seconds: float, next_cost_estimate: float = 0.0
) -> None:
    """Raise LimitExceeded when the next model call would break a job-wide limit."""
    if limits.max_turns is not None and usage.model_calls >= limits.max_turns:
        raise LimitExceeded(
            "max_turns",
            f"limit max_turns reached: {usage.model_calls} model"
            f" calls of {limits.max_turns} allowed",
        )
    if limits.max_tool_calls is not None and usage.tool_calls >= limits.max_tool_calls:
        raise LimitExceeded(
            "max_tool_calls",
            f"limit max_tool_calls reached: {usage.tool_calls}"
            f" tool calls of {limits.max_tool_calls} allowed",
        )
    if limits.timeout is not None and active_seconds >= limits.timeout:
        raise LimitExceeded(
            "timeout",
            f"limit timeout reached: the job ran {active_seconds:.0f}s"
            f" of {limits.timeout:.0f}s allowed",
        )
    if limits.max_cost_usd is not None and (
        usage.cost_usd + next_cost_estimate > limits.max_cost_usd
    ):
        raise LimitExceeded(
            "max_cost_usd",
            f"limit max_cost_usd reached: {format_usd(usage.cost_usd)} spent, the next call"
            f" costs at least {format_usd(next_cost_estimate)}, of"
            f" {format_usd(limits.max_cost_usd)} allowed",
        )


class CallContext(Protocol):
    """What bounds a model call (an engine/actions.ActionContext has it)."""

    @property
    def limits(self) -> JobLimits: ...
    @property
    def usage(self) -> Usage: ...
    @property
    def deadline(self) -> float | None: ...  # monotonic time when the job's timeout runs out
    @property
    def cancel(self) -> threading.Event: ...


class ActionBounds(CallContext, Protocol):
    """What bounds an action (an engine/actions.ActionContext has it)."""

    @property
    def tool_timeout(self) -> float: ...  # for a tool that names no timeout of its own
    @property
    def tool_timeout_cap(self) -> float | None: ...  # the policy's tool_timeout


def action_timeout(ctx: ActionBounds, timeout: float | None) -> float:
    """How long the next action may run (`timeout`: its own), under the job's limits: none
    at all once max_tool_calls is reached or the job's timeout ran out (LimitExceeded)."""
    limits, usage = ctx.limits, ctx.usage
    if limits.max_tool_calls is not None and usage.tool_calls >= limits.max_tool_calls:
        raise LimitExceeded(
            "max_tool_calls",
            f"limit max_tool_calls reached:"
            f" {usage.tool_calls} tool calls of {limits.max_tool_calls}"
            " allowed",
        )
    tool_timeout = timeout or ctx.tool_timeout
    if ctx.tool_timeout_cap is not None:
        tool_timeout = min(tool_timeout, ctx.tool_timeout_cap)
    if ctx.deadline is not None:
        remaining = ctx.deadline - time.monotonic()
        if remaining <= 0:
            raise LimitExceeded("timeout", "limit timeout reached before the next action")
        tool_timeout = min(tool_timeout, remaining)
    return tool_timeout


def call_model(
    model: ModelClient,
    ctx: CallContext,
    role: str,
    messages: list[Message],
    tools: list[ToolSchema],
    *,
    call_index: int,
    on_text: Callable[[str], None] | None,
) -> ModelReply:
    """One model call bounded by the job: its timeout's deadline (LimitExceeded once it
    lapses, even mid-reply), a cancel (Cancelled within a second) and, under max_cost_usd,
    the budget left, which caps the reply's max_tokens."""
    limits, usage = ctx.limits, ctx.usage
    budget = None if limits.max_cost_usd is None else limits.max_cost_usd - usage.cost_usd
    bounds = CallBounds(deadline=ctx.deadline, cancel=ctx.cancel, budget_usd=budget)
    started = time.monotonic()
    try:
        return model.complete(
            role, messages, tools, call_index=call_index, on_text=on_text, bounds=bounds
        )
    except CallCancelled:
        raise Cancelled() from None
    except DeadlineReached:
        waited = time.monotonic() - started
        allowed = f" of {limits.timeout:.0f}s allowed" if limits.timeout is not None else ""
        raise LimitExceeded(
            "timeout",
            f"limit timeout reached during a model call (after waiting {waited:.0f}s for"
            f" its reply){allowed}",
        ) from None
