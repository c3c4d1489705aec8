"""A runner's view of its job's log: what already happened (for replay) and what to append.

Resume works by re-executing the recipe from the top against this journal: every model call,
action and approval has a deterministic key (`fix/t3`, `fix/t3/c0`, `context/run`), and an
effect whose result the log holds is answered from the log instead of being done again.

Appends are buffered and committed by `commit()`; the runner commits before every side effect
(durably before one that must not be repeated), so the log always knows what may have started.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentctl.event_json import event_data, parse_event
from agentctl.events import (
    ActionFinished,
    ActionStarted,
    ApprovalRequested,
    JobEvent,
    JsonObject,
    LimitsChanged,
    McpToolsPinned,
    ModelResponse,
    RunnerStarted,
    StepFinished,
)
from agentctl.store import ApprovalChange, Event, JobUpdate, NewEvent, Store


def new_event(event: JobEvent, step: str | None = None) -> NewEvent:
    """A typed event as the store takes it: its tag, its step, and its fields as stored."""
    return NewEvent(event.type, step, event_data(event))


@dataclass
class ReplayIndex:
    """What the log already holds, by effect key: the typed events a resume answers from."""

    models: dict[str, ModelResponse] = field(default_factory=dict)
    started: dict[str, ActionStarted] = field(default_factory=dict)
    finished: dict[str, ActionFinished] = field(default_factory=dict)
    steps: dict[str, StepFinished] = field(default_factory=dict)
    requests: dict[str, ApprovalRequested] = field(default_factory=dict)  # the latest, by key
    pins: dict[str, JsonObject] = field(default_factory=dict)  # MCP server -> pinned tools
    # Actions whose effects were undone until a person approves them: neither started nor
    # finished, so the next runner asks for that approval and runs them again.
    held: dict[str, ActionFinished] = field(default_factory=dict)
    model_calls: int = 0
    active_seconds: float = 0.0
    limits: dict[str, float] = field(default_factory=dict)  # raised by `resume --limit`

    @classmethod
    def from_events(cls, events: Iterable[Event]) -> ReplayIndex:
        index = cls()
        session_start: float | None = None
        last_ts: float | None = None
        for stored in events:
            event = parse_event(stored.type, stored.data)
            if isinstance(event, RunnerStarted):
                if session_start is not None and last_ts is not None:
                    index.active_seconds += max(0.0, last_ts - session_start)
                session_start = stored.ts
            else:
                index.fold(event, stored.step)
            last_ts = stored.ts
        if session_start is not None and last_ts is not None:
            index.active_seconds += max(0.0, last_ts - session_start)
        return index

    def fold(self, event: JobEvent | None, step: str | None) -> None:
        """Take in one event of the log (of `step`); events replay does not need pass by."""
        match event:
            case ModelResponse():
                self.models[event.key] = event
                self.model_calls += 1
            case ActionStarted():
                self.started[event.key] = event
                self.finished.pop(event.key, None)
            case ActionFinished():
                self.record_finished(event)
            case StepFinished():
                self.steps[step or ""] = event
            case ApprovalRequested():
                self.requests[event.key] = event
            case LimitsChanged():
                self.limits.update(event.limits)
            case McpToolsPinned():
                self.pins[event.server] = event.tools

    def record_finished(self, event: ActionFinished) -> None:
        key = event.key
        if event.stopped_by and event.error == "stopped":
            # Killed by Ctrl-C or SIGTERM in this runner's hands: known not to have finished,
            # so not uncertain either; the next runner decides it again like a new action.
            self.started.pop(key, None)
            self.finished.pop(key, None)
        elif event.held:
            self.held[key] = event
            self.started.pop(key, None)
            self.finished.pop(key, None)
        else:
            self.finished[key] = event
            self.held.pop(key, None)


class Journal:
    """Buffered, fenced appends to one job's log."""

    def __init__(
        self,
        store: Store,
        job_id: str,
        token: int,
        clock: Callable[[], float],
        on_event: Callable[[Event], None] | None = None,
        mask: Callable[[JsonObject], tuple[JsonObject, str]] | None = None,
    ):
        self.store = store
        # Secrets are masked here, the one door into the log, before anything is stored.
        self.mask = mask
        self.job_id = job_id
        self.token = token
        self.clock = clock
        self.on_event = on_event
        self._pending: list[NewEvent] = []
        self._update = JobUpdate()

    def add(
        self,
        event: JobEvent,
        step: str | None = None,
        *,
        set_fields: dict[str, Any] | None = None,
        add_fields: dict[str, float] | None = None,
    ) -> None:
        """Buffer `event` (of `step`), and how it changes the job's row: `set_fields` are
        set, `add_fields` added to (usage counters)."""
        data = event_data(event)
        encoded = None
        if self.mask is not None:  # masks, and hands the store the JSON it had to make anyway
            data, encoded = self.mask(data)
        self._pending.append(NewEvent(event.type, step, data, encoded))
        if set_fields:
            self._update.set.update(set_fields)
        for column, amount in (add_fields or {}).items():
            self._update.add[column] = self._update.add.get(column, 0) + amount

    def commit(
        self, *, durable: bool = False, approvals: Sequence[ApprovalChange] = ()
    ) -> list[Event]:
        """Write what was added (and `approvals`) in one transaction; `durable` fsyncs first."""
        if not self._pending and not self._update.set and not self._update.add and not approvals:
            return []
        events, update = self._pending, self._update
        self._pending, self._update = [], JobUpdate()
        written = self.store.append_events(
            self.job_id,
            events,
            now=self.clock(),
            token=self.token,
            durable=durable,
            update=update,
            approvals=approvals,
        )
        for event in written:
            if self.on_event is None:
                break
            try:
                self.on_event(event)
            except OSError:
                # Whoever watches (a pipe that `head` closed, say) never changes the job: the
                # event is committed, and the job goes on without that watcher.
                self.on_event = None
        return written

    def discard(self) -> None:
        self._pending, self._update = [], JobUpdate()
