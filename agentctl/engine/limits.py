"""The job-wide limits in force (the recipe's, tightened by its policies), what the job has
used so far, the check made before each model call, and the call itself under the job's
bounds: its deadline, its cancel and the budget it has left."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentctl.engine.stops import Cancelled, LimitExceeded
from agentctl.models.bounds import CallBounds, CallCancelled, DeadlineReached
from agentctl.units import format_usd

if TYPE_CHECKING:
    from agentctl.engine.actions import ActionContext
    from agentctl.models.client import ModelClient
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


def call_model(
    model: ModelClient,
    ctx: ActionContext,
    role: str,
    messages: list[dict],
    tools: list[dict],
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
