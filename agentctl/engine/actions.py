"""Running one action exactly once: decide it, record its start, run the tool, record its result.

Every action goes through the policy first: `deny` is answered to the model as a tool result,
`ask` becomes an approval. An action whose result the log holds is answered from the log.
One that started but has no result (its runner died) is uncertain: it runs again by itself
only if its tool is read-only; otherwise a person must approve running it again. What an
action changed in the workspace is recorded with its result, so it can be diffed and undone.

What it changed is then held against the policies' write rules (`agentctl.policy.effects`):
a change a policy denies undoes the whole action, which is answered as denied; one it asks
about undoes it too and waits for a person (the action is logged as `held`), whose approval
runs it again with those paths allowed.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from agentctl.changes.scan import SnapshotCancelled
from agentctl.engine.approvals import AskRequest, Gate
from agentctl.engine.effects import undo_refused, written_by
from agentctl.engine.journal import Journal, ReplayIndex
from agentctl.engine.limits import JobLimits, Usage, action_timeout
from agentctl.engine.signals import Interrupt, signals_ignored
from agentctl.engine.stopped import canceller, stopped_result
from agentctl.engine.stops import Cancelled
from agentctl.events import ActionFinished, ActionFinishedFields, ActionStarted
from agentctl.policy.effects import EffectCheck
from agentctl.policy.votes import Decision, Verdict
from agentctl.process.run import DEFAULT_OUTPUT_CAP
from agentctl.process.sandbox import SandboxSettings
from agentctl.redact import MASK
from agentctl.tools.base import (
    DEFAULT_TOOL_TIMEOUT,
    Tool,
    ToolContext,
    ToolResult,
)

UNCERTAIN = (
    "uncertain: this action started but its runner stopped before recording a result;"
    " it may or may not have taken effect. Run it again?"
)


def repeated_action(step: str, first: str) -> str:
    """Why an identical repeat of an action that changes things waits for a person: the
    model may loop, and each run repeats the effect (a line appended twice, a push twice)."""
    return (
        f"the same action already ran at step {step} ({first}); running it again may repeat"
        " its effect"
    )


# The policies' say on one action: (tool name, arguments, tool) -> Decision.
Decider = Callable[[str, dict[str, Any], Tool], Decision]

# What an action gets when no policy decides (a context built without one).
ALLOWED = Decision(Verdict.ALLOW)


@dataclass
class ActionContext:
    workspace: Path
    env: dict[str, str]
    cancel: threading.Event
    limits: JobLimits
    usage: Usage
    deadline: float | None  # monotonic time when the job's timeout runs out
    tool_timeout: float = DEFAULT_TOOL_TIMEOUT  # for a tool that names no timeout of its own
    tool_timeout_cap: float | None = None  # the policy's tool_timeout: no action runs longer
    output_cap: int = DEFAULT_OUTPUT_CAP
    decide: Decider | None = None
    mask: Callable[[str], str] = staticmethod(lambda text: text)  # noqa: RUF009
    recorder: Any = None  # a ChangeRecorder, or None to record no file changes
    # How processes are confined; a policy added to the live job narrows it.
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)
    url_checker: Callable[[str], str | None] | None = None  # the policy's say on each URL
    sessions: dict[str, Any] = field(default_factory=dict)  # this step's tool sessions
    # The policies' say on what an action changed: (name, tool, args, changes, markers,
    # approved paths, whether a person approved the action).
    check_effects: Callable[..., EffectCheck] | None = None
    written: set[str] = field(default_factory=set)  # workspace files this job wrote


def effects_key(key: str) -> str:
    """The approval key of an action's held effects (beside the action's own approval)."""
    return f"{key}/effects"


def refusal(said: str, exit_code: int | None = None) -> ToolResult:
    """What the agent hears of an action that was refused (or undone): not to retry it."""
    return ToolResult(
        ok=False,
        error="denied",
        exit_code=exit_code,
        output=f"{said} Do not retry it; find another way or explain what you need.",
    )


def result_from_log(finished: ActionFinished) -> ToolResult:
    return ToolResult(
        ok=finished.ok,
        output=finished.output,
        exit_code=finished.exit_code,
        truncated=finished.truncated,
        error=finished.error,
    )


class Action(NamedTuple):
    """One action of a step: its key in the log, the tool's name (as logged), the tool, and
    the arguments it is called with."""

    step: str
    key: str
    name: str
    tool: Tool
    args: dict[str, Any]


def _started_event(
    action: Action,
    verdict: Decision,
    approval: dict[str, Any] | None,
    repeat: int,
) -> ActionStarted:
    """The `action_started` event of an action the policy let through."""
    _, key, name, tool, args = action
    return ActionStarted(
        key=key,
        tool=name,
        args=args,
        read_only=tool.spec.read_only,
        decision=verdict.decision,
        rules=verdict.rule_objects if verdict.rules else None,
        approval=approval["request"] if approval is not None else None,
        repeat=repeat,  # the log marks an identical action done again
        host=tool.spec.host or None,  # a remote MCP server's: `hosts:` rules decided it
    )


class ActionRunner:
    def __init__(self, journal: Journal, index: ReplayIndex, gate: Gate, ctx: ActionContext):
        self.journal = journal
        self.index = index
        self.gate = gate
        self.ctx = ctx
        for finished in index.finished.values():  # what earlier runners of the job wrote
            ctx.written |= written_by(finished.changes or [])

    def check_cancel(self) -> None:
        if self.ctx.cancel.is_set():
            raise Cancelled()

    def run(
        self,
        *,
        step: str,
        key: str,
        name: str,
        tool: Tool,
        args: dict[str, Any],
        timeout: float | None = None,
        repeat: int = 0,
        repeat_of: str | None = None,
    ) -> ToolResult:
        recorded = self.index.finished.get(key)
        if recorded is not None:
            return result_from_log(recorded)
        action = Action(step, key, name, tool, args)
        verdict, uncertain = self._verdict(key, name, tool, args)
        if repeat_of is not None and not tool.spec.read_only:
            verdict = verdict.with_builtin("repeat", Verdict.ASK, repeated_action(step, repeat_of))
        if key in self.index.requests and (
            verdict.decision == Verdict.DENY or not (verdict.decision == Verdict.ASK or uncertain)
        ):
            self.gate.void_unneeded(step, key)  # asked ahead with its turn; not needed now
        if verdict.decision == Verdict.DENY:
            return self._refuse(action, verdict, "denied by the policy")
        approval = None
        approved_paths: frozenset[str] = frozenset()
        held = self.index.held.get(key)
        if held is not None:  # its changes were undone, waiting for a person
            approval, refused = self._ask_person(
                action, held.reason or "", held.rules, effects=True
            )
            if refused is not None:
                return refused
            approved_paths = frozenset(held.paths or [])
        elif verdict.decision == Verdict.ASK or uncertain:
            reason = UNCERTAIN if uncertain else (verdict.reason or "the policy asks a person")
            approval, refused = self._ask_person(
                action, reason, verdict.rule_objects, uncertain=uncertain
            )
            if refused is not None:
                return refused
        return self._execute(action, verdict, approval, approved_paths, timeout, repeat)

    def _execute(
        self,
        action: Action,
        verdict: Decision,
        approval: dict[str, Any] | None,
        approved_paths: frozenset[str],
        timeout: float | None,
        repeat: int,
    ) -> ToolResult:
        """Run an action the policy let through, record it, and hold its effects."""
        step, key, _, tool, args = action
        read_only = tool.spec.read_only
        self.check_cancel()
        tool_timeout = action_timeout(self.ctx, timeout)  # past a limit, nothing is done
        started_event = _started_event(action, verdict, approval, repeat)
        recorder = self.ctx.recorder if not read_only else None
        # The snapshot before comes before the action is logged as started: a cancel during a
        # long walk then leaves nothing uncertain behind.
        try:
            token = recorder.before(tool.spec, args) if recorder else None
        except SnapshotCancelled:
            raise Cancelled() from None
        self.journal.add(started_event, step, add_fields={"tool_calls": 1})
        self.ctx.usage.tool_calls += 1
        tool_ctx = self._tool_context(tool_timeout)
        started = time.monotonic()
        # Durable before a side effect: after a power cut the log still says it may have run.
        self.journal.commit(durable=not read_only)
        try:  # from here, a Ctrl-C stops this action (recorded as such), never leaves it uncertain
            self.index.started[key] = started_event
            result = tool.run(args, tool_ctx)
        except (KeyboardInterrupt, Interrupt) as stop:
            with signals_ignored():  # a second Ctrl-C must not cut this record short
                changes, markers = recorder.after_with_markers(token) if recorder else ([], [])
                self._record_stop(action, stop, changes, markers, started)
            raise
        except BaseException:
            if recorder:
                recorder.after_with_markers(token)
            raise
        changes, markers = recorder.after_with_markers(token) if recorder else ([], [])
        result.output = self.ctx.mask(result.output)
        extra: ActionFinishedFields = {}
        if result.error == "cancelled":  # `agentctl cancel`: said by the one who ran it
            extra["stopped_by"] = canceller(self.journal.store, self.journal.job_id)
        confinement = tool_ctx.confinement
        if confinement:
            extra["confinement"] = confinement
        check = self._check_effects(action, changes, markers, approved_paths, approval is not None)
        if check is not None and check.decision != Verdict.ALLOW:
            held = (result, check, changes, markers, extra)
            return self._hold(action, held, timeout)
        if changes:
            extra["changes"] = changes
            self.ctx.written |= written_by(changes)
        self._finish(step, key, action.name, result, time.monotonic() - started, extra)
        if result.error == "cancelled" or self.ctx.cancel.is_set():
            raise Cancelled()
        return result

    def _tool_context(self, timeout: float) -> ToolContext:
        """What the tool of one action runs with: the run's context, this action's timeout."""
        ctx = self.ctx
        return ToolContext(
            workspace=ctx.workspace,
            timeout=timeout,
            output_cap=ctx.output_cap,
            env=ctx.env,
            cancel=ctx.cancel,
            sandbox=ctx.sandbox,
            url_checker=ctx.url_checker,
            sessions=ctx.sessions,
        )

    def _check_effects(
        self,
        action: Action,
        changes: list[dict[str, Any]],
        markers: list[dict[str, str]],
        approved_paths: frozenset[str],
        person_approved: bool,
    ) -> EffectCheck | None:
        """The policies' say on what an action changed (None: nothing to check)."""
        _, _, name, tool, args = action
        touches = tool.spec.touches
        # A file tool writes the one path the policy decided before it ran: nothing to hold.
        one_path = bool(touches.path and touches.writes)
        if self.ctx.check_effects is None or not (changes or markers) or one_path:
            return None
        return self.ctx.check_effects(
            name, tool, args, changes, markers, approved_paths, person_approved
        )

    def _verdict(
        self, key: str, name: str, tool: Tool, args: dict[str, Any]
    ) -> tuple[Decision, bool]:
        """The policy's decision on the action, and whether it is uncertain (it started
        under an earlier runner that recorded no result, and its tool is not read-only)."""
        verdict = self.ctx.decide(name, args, tool) if self.ctx.decide else ALLOWED
        if verdict.decision == Verdict.ALLOW and MASK in json.dumps(args, ensure_ascii=False):
            # A secret in the model's call was masked in the log; rebuilt from the log (on
            # resume) the call holds the mask itself, a different action (and `[REDACTED]` is
            # a shell glob). Never run it by itself: a person sees it as it would run.
            verdict = verdict.with_builtin(
                "masked-secret",
                Verdict.ASK,
                f"the action holds {MASK}, a secret masked in the log: it would not run as "
                "the model asked it",
            )
        return verdict, key in self.index.started and not tool.spec.rerun_without_asking

    def asks(
        self, step: str, calls: list[tuple[str, str, Tool, dict[str, Any]]]
    ) -> list[AskRequest]:
        """Of `calls` (key, name, tool, args) not run yet, those that need a person as the
        policy stands now: the rest of a model turn, asked together (engine/approvals.py)."""
        out = []
        for key, name, tool, args in calls:
            if key in self.index.finished:
                continue
            held = self.index.held.get(key)
            if held is not None:  # its effects wait for a person (see _hold)
                rules = held.rules or []
                reason = held.reason or ""
                out.append(AskRequest(step, effects_key(key), name, args, reason, rules))
                continue
            verdict, uncertain = self._verdict(key, name, tool, args)
            if verdict.decision == Verdict.ASK or (uncertain and verdict.decision != Verdict.DENY):
                reason = UNCERTAIN if uncertain else (verdict.reason or "the policy asks a person")
                out.append(AskRequest(step, key, name, args, reason, verdict.rule_objects))
        return out

    def _hold(
        self,
        action: Action,
        held: tuple[
            ToolResult,
            EffectCheck,
            list[dict[str, Any]],
            list[dict[str, str]],
            ActionFinishedFields,
        ],
        timeout: float | None,
    ) -> ToolResult:
        """Undo an action whose effects a policy denies or asks about. Denied: answered as
        such. Asked: logged as held, and a person decides; an approval runs it again (with
        the same `timeout`). `held`: what it returned, the check, its changes and markers,
        and the log fields gathered so far."""
        step, key, name, _, _ = action
        ran, check, changes, markers, extra = held
        problems = undo_refused(self.ctx.workspace, check, changes, markers, extra)
        decision = extra["decision"] = check.decision
        reason = check.reason()
        if problems:  # left in place: the log must say what is there
            extra["changes"] = changes
            self.ctx.written |= written_by(changes)
        left = f" Could not be undone: {'; '.join(problems)}." if problems else ""
        what = (
            "denied by the policy" if decision == Verdict.DENY else "held for a person's approval"
        )
        said = f"{name} ran, but what it changed is {what}, so all of it was undone: {reason}."
        result = refusal(said + left, exit_code=ran.exit_code)
        if decision == Verdict.DENY:
            self._finish(step, key, name, result, 0.0, extra)
            return result
        extra.update({"held": True, "reason": reason, "paths": check.asked_paths})
        self._finish(step, key, name, result, 0.0, extra)
        asked = f"{name} changed what a policy asks about (undone until approved): {reason}"
        approval, refused = self._ask_person(action, asked, extra["rules"], effects=True)
        if refused is not None:
            return refused
        allowed = Decision(Verdict.ALLOW, "approved by a person")
        paths = frozenset(check.asked_paths)
        return self._execute(action, allowed, approval, paths, timeout, 0)

    def _record_stop(
        self,
        action: Action,
        stop: BaseException,
        changes: list[dict[str, Any]],
        markers: list[dict[str, str]],
        started: float,
    ) -> None:
        """Killed by Ctrl-C or SIGTERM: recorded as stopped (see engine/stopped.py)."""
        step, key, name, tool, args = action
        result, extra = stopped_result(self.ctx, name, tool, args, stop, changes, markers)
        self._finish(step, key, name, result, time.monotonic() - started, extra)

    def record(
        self, *, step: str, key: str, name: str, args: dict[str, Any], result: ToolResult
    ) -> ToolResult:
        """Log an action refused before running (unknown tool, bad arguments)."""
        recorded = self.index.finished.get(key)
        if recorded is not None:
            return result_from_log(recorded)
        self._finish(step, key, name, result, 0.0, {"args": args, "refused": True})
        return result

    def _refuse(self, action: Action, verdict: Decision, why: str) -> ToolResult:
        step, key, name, _, args = action
        rules = ", ".join(verdict.rules) or "the default"
        result = refusal(f"{name} was not run: {why} (rules: {rules}). {verdict.reason}".strip())
        self._finish(
            step,
            key,
            name,
            result,
            0.0,
            {
                "args": args,
                "refused": True,
                "decision": Verdict.DENY,
                "rules": verdict.rule_objects,
            },
        )
        return result

    def _ask_person(
        self,
        action: Action,
        reason: str,
        rules: list[dict[str, str]] | None,
        *,
        effects: bool = False,
        uncertain: bool = False,
    ) -> tuple[dict[str, Any], ToolResult | None]:
        """A person decides the action (`effects`: what it changed, held): their approval,
        and the refusal the agent hears when they said no (None when they approved)."""
        step, key, name, _, args = action
        answer, approval = self.gate.require(
            step=step,
            key=effects_key(key) if effects else key,
            tool=name,
            args=args,
            reason=reason,
            rules=rules,
        )
        if answer == "deny":
            return approval, self._refuse_for_person(action, approval, uncertain)
        return approval, None

    def _refuse_for_person(
        self, action: Action, approval: dict[str, Any], uncertain: bool
    ) -> ToolResult:
        """A person said no: the agent hears it as theirs (with their comment), never as a
        policy rule's."""
        from agentctl.engine.approvals import person_denial

        step, key, name, _, args = action
        if approval.get("state") == "expired":
            said = f"its approval ran out ({approval.get('decided_by')})"
        else:
            said = person_denial(approval)
        again = "running it again was " if uncertain else ""
        result = refusal(f"{name} was not run: {again}{said}.")
        extra: ActionFinishedFields = {"args": args, "refused": True, "decision": Verdict.DENY}
        extra["denied_by"] = approval.get("decided_by") or "a person"
        if approval.get("comment"):
            extra["comment"] = approval["comment"]
        self._finish(step, key, name, result, 0.0, extra)
        return result

    def _finish(
        self,
        step: str,
        key: str,
        name: str,
        result: ToolResult,
        seconds: float,
        extra: ActionFinishedFields | None = None,
    ) -> None:
        finished = ActionFinished(
            key=key,
            tool=name,
            ok=result.ok,
            output=result.output,
            exit_code=result.exit_code,
            truncated=result.truncated,
            error=result.error,
            duration_ms=round(seconds * 1000),
            **(extra or {}),
        )
        self.journal.add(finished, step)
        self.journal.commit()
        self.index.record_finished(finished)
