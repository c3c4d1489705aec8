"""The live job view: a small state folded from events, and pure renderables built from it.

`JobViewState` is what a screen needs to know about a job — header facts (id, recipe, state,
elapsed time, model, tokens, cost), the steps, the current action, the last lines of model
text — and nothing else; it is folded event by event (`apply`) and from streamed text
(`add_text`), so a frame never needs the database. `render_job_view(state, now)` turns it
into rich renderables. Every piece of data goes into a `rich.text.Text` through
`make_visible`: tool output and model text are never read as markup or terminal codes.
Events the state does not fold otherwise (a warning, an expired approval, a cancel request,
a rollback) are shown as a note line in their formatter's words (`agentctl.ui.event_lines`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from agentctl.engine.steps import calls_model
from agentctl.events import (
    END_EVENTS,
    EventType,
    JobState,
    StepState,
)
from agentctl.policy.votes import Verdict, rule_label
from agentctl.ui.event_lines import check_attempt, describe_event
from agentctl.ui.words import result_words, rules_words
from agentctl.units import format_usd
from agentctl.visible import make_visible

if TYPE_CHECKING:
    from agentctl.store.base import Event

TAIL_LINES = 6
OUTPUT_LINES = 3
# The live view shows this much of an action; the approval prompt always shows all of it.
ACTION_CHARS = 400
# A transcript line shows this much of a long command, so how it ended stays on the line.
TRANSCRIPT_WHAT_CHARS = 60

STATE_STYLES = {
    "running": "cyan",
    "awaiting_approval": "yellow",
    "succeeded": "green",
    "failed": "red",
    "cancelled": "magenta",
    "interrupted": "yellow",
    "pending": "dim",
}
STEP_MARKS = {
    "pending": "·",
    "running": "▶",
    "succeeded": "✓",
    "failed": "✗",
    "cancelled": "⊘",
    "interrupted": "‖",
    "awaiting_approval": "?",
}
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
# Events shown as the view's note line, in their formatter's words.
NOTE_EVENTS = frozenset(
    {
        EventType.WARNING,
        EventType.APPROVAL_EXPIRED,
        EventType.POLICY_APPLIED,
        EventType.CANCEL_REQUESTED,
        EventType.ROLLBACK_STARTED,
        EventType.ROLLBACK,
    }
)
# Events that change what is pending (the runner's own prompt decides through the store:
# its `approval_decided` reaches a watcher, and the runner's fold sees `approval_used`).
_APPROVAL_EVENTS = frozenset(
    {
        EventType.APPROVAL_REQUESTED,
        EventType.APPROVAL_DECIDED,
        EventType.APPROVAL_USED,
        EventType.APPROVAL_VOIDED,
    }
)


@dataclass
class StepView:
    id: str
    kind: str = ""
    status: str = "pending"


@dataclass
class ActionView:
    step: str | None
    tool: str
    args: dict[str, Any]
    decision: str | None = None
    rules: list[str] = field(default_factory=list)
    started: float = 0.0
    finished: bool = False
    ok: bool | None = None
    error: str | None = None
    exit_code: int | None = None
    output: str = ""
    check: str = ""  # the attempt number when this is the recipe's check, not the agent's call
    key: str = ""  # the action's key in the log: a result belongs to the action of its key
    said: str = ""  # how it ended, when a person's words say it better than the result code
    approved_by: str = ""  # the person who approved it, when the policy asked

    @classmethod
    def from_event(cls, step: str | None, data: dict[str, Any], ts: float) -> ActionView:
        """The action an `action_started`, `approval_requested` or refused `action_finished`
        names (a refused action has no start of its own)."""
        return cls(
            step=step,
            tool=data.get("tool") or "",
            args=dict(data.get("args") or {}),
            decision=data.get("decision"),
            rules=[rule_label(r) for r in data.get("rules") or []],
            started=ts,
            check=check_attempt(data.get("key")),
            key=data.get("key") or "",
        )


@dataclass
class JobViewState:
    """Everything one frame of the view shows, folded from the job's events."""

    job_id: str
    recipe: str = ""
    state: str = "running"
    session_start: float | None = None
    ended_at: float | None = None
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    steps: list[StepView] = field(default_factory=list)
    current_step: str | None = None
    action: ActionView | None = None
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)  # request id -> request
    error: str | None = None
    note: str | None = None  # the last warning, expiry, cancel request or rollback
    approvers: dict[str, str] = field(default_factory=dict)  # approved request id -> who
    # Whether the model client (litellm) is still being imported: seconds on a first call.
    client_loading: Callable[[], bool] | None = None
    text_tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    _partial: str = ""
    _streamed: bool = False

    @classmethod
    def from_job(cls, job: dict[str, Any], *, state: str | None = None) -> JobViewState:
        """Start from a described job (`describe_job`), e.g. before its runner emits events;
        `state` overrides the job's (a job about to be run says "starting")."""
        usage = job.get("usage") or {}
        view = cls(
            job_id=job["id"],
            recipe=job.get("recipe", ""),
            state=state or job.get("state", "running"),
            input_tokens=usage.get("input_tokens", 0),
            output_tokens=usage.get("output_tokens", 0),
            cost_usd=usage.get("cost_usd", 0.0),
        )
        view.steps = [
            StepView(s["id"], s.get("kind", ""), s.get("state", "pending"))
            for s in job.get("steps") or []
        ]
        for request in job.get("pending_approvals") or []:
            view.pending[request["request"]] = dict(request)
        return view

    # -- folding -------------------------------------------------------------------------

    def apply(self, event: Event) -> None:
        """Fold one event (anything with seq, ts, type, step, data) into the state."""
        kind, step, data = event.type, event.step, event.data or {}
        if kind == EventType.JOB_CREATED:
            self.recipe = data.get("recipe") or self.recipe
            if not self.steps:
                self.steps = [StepView(s["id"], s.get("kind", "")) for s in data.get("steps", [])]
            self.state = JobState.INTERRUPTED  # until a runner takes it
        elif kind == EventType.RUNNER_STARTED:
            self.state, self.session_start = JobState.RUNNING, event.ts
            self.ended_at = self.error = self.note = None
        elif kind == EventType.STEP_STARTED:
            self._set_step(step, StepState.RUNNING, data.get("kind"))
            self.current_step, self.action, self.note = step, None, None
        elif kind == EventType.STEP_FINISHED:
            self._set_step(step, data.get("state", StepState.SUCCEEDED))
            if data.get("error"):
                self.error = data["error"]
        elif kind == EventType.MODEL_RESPONSE:
            self._fold_reply(data.get("reply") or {})
        elif kind == EventType.ACTION_STARTED:
            self._drop_requests_of(data.get("key"))
            self.action = ActionView.from_event(step, data, event.ts)
            if data.get("approval"):  # the policy asked and a person said yes: that is news
                self.action.approved_by = self.approvers.get(str(data["approval"]), "a person")
        elif kind == EventType.ACTION_FINISHED:
            self._drop_requests_of(data.get("key"))
            self._finish_action(step, data, event.ts)
        elif kind in _APPROVAL_EVENTS:
            self._fold_approval(kind, step, data, event.ts)
        elif kind in END_EVENTS:
            self._end(END_EVENTS[EventType(kind)], event.ts, data)
        elif kind in NOTE_EVENTS:
            self.note = describe_event(kind, step, data)

    def _fold_approval(self, kind: str, step: str | None, data: dict[str, Any], ts: float) -> None:
        if kind == EventType.APPROVAL_REQUESTED:
            self.pending[data["request"]] = {**data, "step": step}
            # What is asked about is the current thing now; the action before it is done.
            self.action = ActionView.from_event(step, data, ts) if data.get("tool") else None
            return
        self.pending.pop(str(data.get("request")), None)
        if data.get("decision") == "approved":
            from agentctl.engine.approvals import decider_name

            self.approvers[str(data.get("request"))] = decider_name(data.get("by"))
        if kind == EventType.APPROVAL_VOIDED:
            self.note = describe_event(kind, step, data)

    def _drop_requests_of(self, key: str | None) -> None:
        """An action that starts or is refused was decided: its request is pending no more
        (the runner's own prompt decides through the store, an event this fold never sees)."""
        for request, data in list(self.pending.items()):
            if key and data.get("key") == key:
                del self.pending[request]

    def _finish_action(self, step: str | None, data: dict[str, Any], ts: float) -> None:
        action = self.action
        key = data.get("key") or ""
        # A refused action (denied by a policy or a person, unknown tool) never started: its
        # result must not land on the action shown before it.
        if action is None or action.finished or action.key != key:
            action = self.action = ActionView.from_event(step, data, ts)
        action.finished, action.ok = True, bool(data.get("ok"))
        action.error, action.exit_code = data.get("error"), data.get("exit_code")
        action.output = str(data.get("output") or "")
        if data.get("refused") and data.get("denied_by"):  # a person's no, in their words
            from agentctl.engine.approvals import person_denial

            said = {"decided_by": data["denied_by"], "comment": data.get("comment")}
            action.said = "not run: " + person_denial(said)

    def add_text(self, chunk: str) -> None:
        """Streamed model text: keep the last lines, the unfinished one included."""
        self._streamed = True
        lines = (self._partial + chunk).split("\n")
        self._partial = lines.pop()
        self.text_tail.extend(lines)

    def tail(self) -> list[str]:
        lines = list(self.text_tail) + ([self._partial] if self._partial else [])
        return lines[-TAIL_LINES:]

    def _fold_reply(self, reply: dict[str, Any]) -> None:
        self.model = reply.get("model") or self.model
        self.input_tokens += int(reply.get("input_tokens") or 0)
        self.output_tokens += int(reply.get("output_tokens") or 0)
        self.cost_usd += float(reply.get("cost_usd") or 0.0)
        content = (reply.get("message") or {}).get("content")
        if content and not self._streamed:  # a model that does not stream still shows its text
            self.add_text(content)
        if self._partial:
            self.text_tail.append(self._partial)
            self._partial = ""
        self._streamed = False

    def _set_step(self, step_id: str | None, status: str, kind: str | None = None) -> None:
        for view in self.steps:
            if view.id == step_id:
                view.status = status
                view.kind = kind or view.kind
                return
        if step_id:
            self.steps.append(StepView(step_id, kind or "", status))

    def _end(self, state: str, ts: float, data: dict[str, Any]) -> None:
        self.state, self.ended_at = state, ts
        for view in self.steps:
            if view.status == StepState.RUNNING:
                view.status = StepState.SUCCEEDED if state == JobState.SUCCEEDED else state
        if state == JobState.FAILED:
            error = data.get("error") or {}
            self.error = error.get("message") or self.error
        elif state == JobState.INTERRUPTED:  # a plain Ctrl-C needs no explanation
            reason = data.get("reason")
            self.error = reason if reason and reason != "interrupted" else None

    @property
    def waiting(self) -> bool:
        """Whether something is in progress, for the spinner."""
        return self.state == JobState.RUNNING


# -- rendering ---------------------------------------------------------------------------


def visible_text(text: Any, style: str = "") -> Text:
    """Data as a Text: control, ANSI and bidi characters shown, never obeyed or parsed."""
    return Text(make_visible(str(text)), style=style)


def format_elapsed(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def spinner_frame(now: float) -> str:
    return SPINNER[int(now * 10) % len(SPINNER)]


def describe_action(tool: str, args: dict[str, Any]) -> str:
    """The action in one string: the shell command itself, else the path or url, else JSON."""
    from agentctl.tools.builtin import action_subject  # the tools load only to show an action

    return action_subject(tool, args)


def render_header(state: JobViewState, now: float) -> Text:
    end = state.ended_at if state.ended_at is not None else now
    elapsed = format_elapsed(end - state.session_start) if state.session_start else "--:--"
    line = Text.assemble(
        ("job ", "bold"),
        (state.job_id, "bold"),
        "  ",
        visible_text(state.recipe, "bold"),
        "  ",
        (state.state, STATE_STYLES.get(state.state, "")),
        "  ",
        elapsed,
    )
    line.append("\n")
    line.append_text(
        Text.assemble(
            "model ",
            visible_text(state.model or "-", "cyan"),
            f"  tokens {state.input_tokens}+{state.output_tokens}",
            f"  cost {format_usd(state.cost_usd)}",
        )
    )
    return line


def render_steps(state: JobViewState, now: float) -> Table:
    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    table.add_column(no_wrap=True)
    for step in state.steps:
        mark = STEP_MARKS.get(step.status, "·")
        if step.status == StepState.RUNNING and state.waiting:
            mark = spinner_frame(now)
        style = STATE_STYLES.get(step.status, "")
        table.add_row(
            Text(mark, style=style),
            visible_text(step.id),
            Text(f"{step.kind} {step.status}".strip(), style=style),
        )
    return table


def render_action(state: JobViewState, now: float) -> Text | None:
    action = state.action
    pending = list(state.pending.values())
    if pending and state.state in (JobState.RUNNING, JobState.AWAITING_APPROVAL):
        request = pending[-1]
        line = Text("? ", style="yellow bold")
        line.append(f"approval {request.get('request')} ", style="yellow")
        line.append_text(visible_text(request.get("reason", "")))
        return line
    if action is None:
        if state.waiting and state.current_step and calls_model(_step_kind(state)):
            loading = state.client_loading is not None and state.client_loading()
            what = "loading the model client" if loading else "waiting for the model"
            return Text(f"{spinner_frame(now)} {what}", style="dim")
        return None
    if action.finished:
        return action_line(action, what_chars=TRANSCRIPT_WHAT_CHARS)
    # running, or cut short by the end of the job
    mark = spinner_frame(now) if state.waiting else STEP_MARKS.get(state.state, "→")
    line = action_line(action, mark=mark)
    end = now if state.ended_at is None else state.ended_at
    line.append(f"  {format_elapsed(end - action.started)}", style="dim")
    return line


def action_line(
    action: ActionView, mark: str | None = None, what_chars: int = ACTION_CHARS
) -> Text:
    """One action on one line: mark, step, tool, what it acted on, how it ended, who decided.
    The view's current action, and the transcript a run leaves in the scrollback."""
    what = describe_action(action.tool, action.args)
    if len(what) > what_chars:
        what = what[:what_chars] + "…"
    if mark is None:
        mark = "✓" if action.ok else "✗"
    line = Text(f"{mark} ", style="cyan" if not action.finished else "")
    line.append_text(visible_text(f"[{action.step}] " if action.step else "", "dim"))
    line.append_text(visible_text(f"check {action.check}" if action.check else action.tool, "bold"))
    line.append(": ")
    line.append_text(visible_text(what))
    # How it ended comes before who decided: a line cut at the terminal's edge keeps it.
    if action.approved_by:
        line.append_text(visible_text(f"  approved by {action.approved_by}", "green"))
    if action.finished and not action.ok:
        detail = action.said or result_words(action.error, action.exit_code)
        line.append_text(visible_text(f"  {detail}", "red"))
    if action.decision:
        style = _decision_style(action.decision)
        line.append(f"  ({action.decision}", style=style)
        if action.rules:
            line.append_text(
                visible_text(" by " + rules_words(action.rules, decided=action.decision), style)
            )
        line.append(")", style=style)
    return line


def transcript_line(state: JobViewState, event: Event) -> Text | None:
    """The line an event leaves in the scrollback above the live view: one per finished
    action (printed cut, never wrapped, to the terminal's width), so what the agent did
    stays on screen after the view is gone."""
    action = state.action
    if event.type != EventType.ACTION_FINISHED or action is None or not action.finished:
        return None
    return action_line(action, what_chars=TRANSCRIPT_WHAT_CHARS)


def _step_kind(state: JobViewState) -> str:
    return next((s.kind for s in state.steps if s.id == state.current_step), "")


_DECISION_STYLES: dict[str, str] = {
    Verdict.ALLOW: "green",
    Verdict.ASK: "yellow",
    Verdict.DENY: "red",
}


def _decision_style(decision: str) -> str:
    """The colour of a decision as the log holds it (a word; "" for none)."""
    return _DECISION_STYLES.get(decision, "")


def render_output(state: JobViewState) -> Text | None:
    """The last lines of the current action's output, then of the model's text."""
    lines: list[Text] = []
    action = state.action
    if action is not None and action.finished and action.output.strip():
        for raw in action.output.rstrip("\n").split("\n")[-OUTPUT_LINES:]:
            lines.append(visible_text("  │ " + raw, "dim"))
    for raw in state.tail():
        lines.append(visible_text("  ┊ " + raw, "italic"))
    if not lines:
        return None
    out = Text("\n").join(lines)
    out.no_wrap = True
    out.overflow = "ellipsis"
    return out


def render_job_view(state: JobViewState, now: float) -> RenderableType:
    """One frame: header, steps, current action, recent output, the error if any."""
    parts: list[RenderableType] = [render_header(state, now)]
    if state.steps:
        parts.append(render_steps(state, now))
    for part in (render_action(state, now), render_output(state)):
        if part is not None:
            parts.append(part)
    if state.note:
        parts.append(visible_text(state.note, "yellow"))
    if state.error and state.state in (JobState.FAILED, JobState.INTERRUPTED):
        parts.append(visible_text(f"error: {state.error}", "red"))
    return Group(*parts)
