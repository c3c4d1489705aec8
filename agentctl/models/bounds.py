"""What bounds one model call, and running a request so that those bounds hold.

A request runs in a worker thread while the caller waits on a queue: a lapsed deadline or a
cancel abandons it at once (a model call has no effect to lose; a reply that comes later is
dropped), and SIGTERM or Ctrl-C reach the waiting main thread as they would anywhere else.
Streamed text is handed back through the same queue, so it is shown from the caller's thread.
Workers are kept for the next request; one still busy with an abandoned request is not used.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

# How often a waiting call looks at the cancel event: well inside the 1 s a cancel may take.
POLL_SECONDS = 0.05


@dataclass(frozen=True)
class CallBounds:
    """The job's side of one model call (None: no bound)."""

    deadline: float | None = None  # monotonic time at which the job's timeout runs out
    cancel: threading.Event | None = None  # set by `agentctl cancel` (the heartbeat)
    budget_usd: float | None = None  # what the job may still spend


NO_BOUNDS = CallBounds()


class CallCancelled(Exception):
    """The job was cancelled while a model call was in flight; the call was abandoned."""


class DeadlineReached(Exception):
    """The job's timeout ran out before or during a model call."""


class RequestTimedOut(Exception):
    """One request took longer than its role's timeout (a try that failed: "timeout")."""


class _Worker:
    """A daemon thread that runs one request at a time, then waits for the next."""

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        threading.Thread(target=self._serve, name="agentctl-model-call", daemon=True).start()

    def _serve(self) -> None:
        import asyncio

        # An event loop of its own, as the main thread has: litellm's timing hook otherwise
        # starts (and tears down) a new one with asyncio.run() after every request.
        asyncio.set_event_loop(asyncio.new_event_loop())
        while True:
            self.jobs.get()()
            with _idle_lock:
                _idle.append(self)


_idle: list[_Worker] = []
_idle_lock = threading.Lock()


def _submit(job: Callable[[], None]) -> None:
    with _idle_lock:
        worker = _idle.pop() if _idle else None
    (worker or _Worker()).jobs.put(job)


def run_bounded(
    work: Callable[[Callable[[str], None] | None], T],
    *,
    until: float,
    cancel: threading.Event | None,
    on_text: Callable[[str], None] | None,
) -> T:
    """`work(emit)` in a worker thread; its result, or its exception re-raised here.

    Raises RequestTimedOut once the monotonic time `until` passes and CallCancelled as soon as
    `cancel` is set, leaving the worker to finish (or time out) on its own. `emit` (None when
    `on_text` is) passes streamed text to `on_text`, called from this thread only.
    """
    box: queue.SimpleQueue[tuple[str, object]] = queue.SimpleQueue()

    def emit(text: str) -> None:
        box.put(("text", text))

    def run() -> None:
        try:
            box.put(("done", work(emit if on_text is not None else None)))
        except BaseException as exc:  # handed to the waiting thread, which decides
            box.put(("error", exc))

    _submit(run)
    while True:
        if cancel is not None and cancel.is_set():
            raise CallCancelled()
        left = until - time.monotonic()
        if left <= 0:
            raise RequestTimedOut()
        try:
            kind, value = box.get(timeout=min(left, POLL_SECONDS))
        except queue.Empty:
            continue
        if kind == "text":
            assert on_text is not None
            on_text(value)  # type: ignore[arg-type]
        elif kind == "error":
            raise value  # type: ignore[misc]
        else:
            return value  # type: ignore[return-value]


def pause(seconds: float, bounds: CallBounds) -> None:
    """Wait between tries: cut short by a cancel (CallCancelled); DeadlineReached when the
    job's deadline falls inside the wait."""
    if bounds.deadline is not None and time.monotonic() + seconds >= bounds.deadline:
        raise DeadlineReached()
    if bounds.cancel is None:
        time.sleep(seconds)
    elif bounds.cancel.wait(seconds):
        raise CallCancelled()
