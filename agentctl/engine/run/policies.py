"""Policies added to a running job (`agentctl policy add`): the heartbeat notices them, and
before its next decision the run applies each once, tightening the limits, the network and
the masking in force (engine/policy_updates.py writes them)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from agentctl.engine.run.state import RunState
from agentctl.engine.secrets import job_redactor
from agentctl.events import PolicyApplied

if TYPE_CHECKING:
    from agentctl.engine.actions import ActionContext, Decider
    from agentctl.policy.votes import Decision
    from agentctl.store import Event
    from agentctl.tools.base import Tool

# The limits an added policy may lower (never raise).
LOWERED = ("max_turns", "max_tool_calls", "max_cost_usd", "timeout", "max_repeats")


def deciding_with_added_policies(run: RunState, ctx: ActionContext) -> Decider:
    """`ctx.decide`, applying first the policies `agentctl policy add` attached meanwhile."""
    base = ctx.decide
    assert base is not None  # a run's context always has the policies' decider

    def decide(name: str, args: dict[str, Any], tool: Tool) -> Decision:
        for event in run.heartbeat.take_added_policies():
            if event.seq not in run.applied_policy_seqs:
                run.applied_policy_seqs.add(event.seq)
                apply_policy(run, ctx, event)
        return base(name, args, tool)

    return decide


def apply_policy(run: RunState, ctx: ActionContext, event: Event) -> None:
    """One added policy, in force from now on: it votes, and its limits tighten ctx's."""
    from agentctl.policy.rules import load_policy_text

    path = event.data.get("path") or "<added policy>"
    policy = load_policy_text(event.data["text"], path)
    run.policy.policies.append(policy)
    limits = policy.limits
    for name in LOWERED:
        value = getattr(limits, name, None)
        current = getattr(ctx.limits, name)
        if value is not None and (current is None or value < current):
            setattr(ctx.limits, name, value)
            if name == "timeout":
                ctx.deadline = time.monotonic() + value - run.active_seconds()
    if limits.tool_timeout is not None:
        cap = ctx.tool_timeout_cap
        ctx.tool_timeout_cap = limits.tool_timeout if cap is None else min(cap, limits.tool_timeout)
    ctx.sandbox = ctx.sandbox.narrowed(
        network=policy.network, read_only_workspace=run.policy.allows_no_writes
    )
    run.mask_with(job_redactor(run.recipe, run.policy, run.deps.env, run.workspace))
    ctx.mask = run.redactor.mask
    run.journal.add(PolicyApplied(seq=event.seq, path=path))
