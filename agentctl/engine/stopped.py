"""Actions a person stopped: Ctrl-C at the runner's terminal, `agentctl cancel`, or SIGTERM.

The runner killed such an action itself, so it knows the action did not finish: it is
recorded as stopped, in the name of who stopped it, and a resume decides it again under the
policy like a new action (see `ReplayIndex.record_finished`). Only a runner that died
(`kill -9`, a lost machine) leaves an action *uncertain*.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from agentctl.engine.approvals import describe_decider
from agentctl.events import ActionFinishedFields, EventType
from agentctl.policy.votes import Verdict
from agentctl.store import Store
from agentctl.tools.base import Tool, ToolResult

if TYPE_CHECKING:
    from agentctl.engine.actions import ActionContext


def stopped_result(
    ctx: ActionContext,
    name: str,
    tool: Tool,
    args: dict[str, Any],
    stop: BaseException,
    changes: list[dict[str, Any]],
    markers: list[dict[str, str]],
) -> tuple[ToolResult, ActionFinishedFields]:
    """The result and log fields of an action killed by Ctrl-C (the person at this runner's
    terminal) or SIGTERM. What it changed that a policy denies or asks about is undone, as
    after any action: nobody approved it."""
    from agentctl.engine.actions import written_by
    from agentctl.engine.effects import undo_action

    if isinstance(stop, KeyboardInterrupt):
        by = describe_decider(via="Ctrl-C")
    else:
        by = f"SIGTERM to the runner (pid {os.getpid()})"
    extra: ActionFinishedFields = {"stopped_by": by}
    check = None
    if ctx.check_effects is not None and (changes or markers):
        check = ctx.check_effects(name, tool, args, changes, markers, frozenset(), False)
    if check is not None and check.decision != Verdict.ALLOW:
        extra.update({"effects": check.to_list(), "rules": check.rule_objects()})
        problems = undo_action(ctx.workspace, changes, markers)
        if problems:
            extra["not_undone"] = problems
        changes = changes if problems else []
    if changes:
        extra["changes"] = changes
        ctx.written |= written_by(changes)
    said = f"{name} was stopped before it ended, by {by}."
    return ToolResult(ok=False, error="stopped", output=said), extra


def canceller(store: Store, job_id: str) -> str:
    """Who asked the job to stop (the account that ran `agentctl cancel`), from the log."""
    asked = store.read_events(job_id, types=[EventType.CANCEL_REQUESTED])
    return str(asked[-1].data.get("by")) if asked else "a cancel request"
