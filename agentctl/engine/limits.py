"""The job-wide limits in force (the recipe's, tightened by its policies), what the job has
used so far, and the check made before each model call."""

from __future__ import annotations

from dataclasses import dataclass

from agentctl.engine.stops import LimitExceeded

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
            f"limit max_cost_usd reached: ${usage.cost_usd:.4f}"
            f" spent, the next call may cost ${next_cost_estimate:.4f}, of"
            f" ${limits.max_cost_usd:.2f} allowed",
        )
