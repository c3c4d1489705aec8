"""A runner's view of its job's log: what already happened (for replay) and what to append.

Resume works by re-executing the recipe from the top against this journal: every model call,
action and approval has a deterministic key (`fix/t3`, `fix/t3/c0`, `context/run`), and an
effect whose result the log holds is answered from the log instead of being done again.

Appends are buffered and committed by `commit()`; the runner commits before every side effect
(durably before one that must not be repeated), so the log always knows what may have started.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentctl.events import EventType, JobEvent, event_data
from agentctl.store import ApprovalChange, Event, JobUpdate, NewEvent, Store


def new_event(event: JobEvent, step: str | None = None) -> NewEvent:
    """A typed event as the store takes it: its tag, its step, and its fields as stored."""
    return NewEvent(event.type, step, event_data(event))


@dataclass
class ReplayIndex:
    """What the log already holds, by effect key."""

    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    started: dict[str, dict[str, Any]] = field(default_factory=dict)
    finished: dict[str, dict[str, Any]] = field(default_factory=dict)
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> latest request
    pins: dict[str, dict[str, Any]] = field(default_factory=dict)  # MCP server -> pinned tools
    # Actions whose effects were undone until a person approves them: neither started nor
    # finished, so the next runner asks for that approval and runs them again.
    held: dict[str, dict[str, Any]] = field(default_factory=dict)
    model_calls: int = 0
    active_seconds: float = 0.0
    limits: dict[str, float] = field(default_factory=dict)  # raised by `resume --limit`

    @classmethod
    def from_events(cls, events: list[Event]) -> ReplayIndex:
        index = cls()
        session_start: float | None = None
        last_ts: float | None = None
        for event in events:
            data = event.data
            kind = event.type
            if kind == EventType.RUNNER_STARTED:
                if session_start is not None and last_ts is not None:
                    index.active_seconds += max(0.0, last_ts - session_start)
                session_start = event.ts
            elif kind == EventType.MODEL_RESPONSE:
                index.models[data["key"]] = data
                index.model_calls += 1
            elif kind == EventType.ACTION_STARTED:
                index.started[data["key"]] = data
                index.finished.pop(data["key"], None)
            elif kind == EventType.ACTION_FINISHED:
                index.record_finished(data)
            elif kind == EventType.STEP_FINISHED:
                index.steps[event.step or ""] = data
            elif kind == EventType.APPROVAL_REQUESTED:
                index.requests[data["key"]] = data
            elif kind == EventType.LIMITS_CHANGED:
                index.limits.update(data.get("limits") or {})
            elif kind == "mcp_tools_pinned":
                index.pins[data["server"]] = data["tools"]
            last_ts = event.ts
        if session_start is not None and last_ts is not None:
            index.active_seconds += max(0.0, last_ts - session_start)
        return index

    def record_finished(self, data: dict[str, Any]) -> None:
        key = data["key"]
        if data.get("stopped_by") and data.get("error") == "stopped":
            # Killed by Ctrl-C or SIGTERM in this runner's hands: known not to have finished,
            # so not uncertain either; the next runner decides it again like a new action.
            self.started.pop(key, None)
            self.finished.pop(key, None)
        elif data.get("held"):
            self.held[key] = data
            self.started.pop(key, None)
            self.finished.pop(key, None)
        else:
            self.finished[key] = data
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
        mask: Callable[[Any], tuple[Any, str]] | None = None,
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
