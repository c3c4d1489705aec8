"""Actions a person stopped: Ctrl-C at the runner's terminal, `agentctl cancel`, or SIGTERM.

The runner killed such an action itself, so it knows the action did not finish: it is
recorded as stopped, in the name of who stopped it, and a resume decides it again under the
policy like a new action (see `ReplayIndex.record_finished`). Only a runner that died
(`kill -9`, a lost machine) leaves an action *uncertain*.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from agentctl.engine.approvals import describe_decider
from agentctl.events import ActionFinishedFields, EventType
from agentctl.policy.votes import Verdict
from agentctl.store import Store
from agentctl.tools.base import Tool, ToolResult

if TYPE_CHECKING:
    from pathlib import Path

    from agentctl.policy.effects import EffectCheck


class StoppedContext(Protocol):
    """What undoing a stopped action needs of its context (engine/actions.ActionContext)."""

    @property
    def workspace(self) -> Path: ...
    @property
    def check_effects(self) -> Callable[..., EffectCheck] | None: ...
    @property
    def written(self) -> set[str]: ...  # grows by what the action wrote


def stopped_result(
    ctx: StoppedContext,
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
    from agentctl.engine.effects import undo_refused, written_by

    if isinstance(stop, KeyboardInterrupt):
        by = describe_decider(via="Ctrl-C")
    else:
        by = f"SIGTERM to the runner (pid {os.getpid()})"
    extra: ActionFinishedFields = {"stopped_by": by}
    check = None
    if ctx.check_effects is not None and (changes or markers):
        check = ctx.check_effects(name, tool, args, changes, markers, frozenset(), False)
    if check is not None and check.decision != Verdict.ALLOW:
        problems = undo_refused(ctx.workspace, check, changes, markers, extra)
        changes = changes if problems else []
    if changes:
        extra["changes"] = changes
        ctx.written.update(written_by(changes))
    said = f"{name} was stopped before it ended, by {by}."
    return ToolResult(ok=False, error="stopped", output=said), extra


def canceller(store: Store, job_id: str) -> str:
    """Who asked the job to stop (the account that ran `agentctl cancel`), from the log."""
    asked = store.read_events(job_id, types=[EventType.CANCEL_REQUESTED])
    return str(asked[-1].data.get("by")) if asked else "a cancel request"
