"""The Live driver: keeps one job's view on screen while a runner (or a watcher) feeds it.

Events and streamed text are folded into an in-memory `JobViewState` under a lock; rich's
refresh thread draws a frame from that state at most `fps` times a second. Each finished
action also leaves one line above the view (`transcript_line`), so the scrollback keeps what
the agent did once the view is gone. Nothing here
reads the database: a frame costs the job nothing but the fold. An approval prompt pauses
the view (it needs the keyboard and the bottom of the screen) and resumes it afterwards.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console, RenderableType
from rich.live import Live

from agentctl.ui.view import JobViewState, render_job_view, transcript_line

if TYPE_CHECKING:
    from agentctl.store.base import Event

MAX_FPS = 10


class LiveJobView:
    """A live view of one job on `console`; use it as a context manager."""

    def __init__(
        self,
        state: JobViewState,
        console: Console,
        *,
        fps: float = 8,
        clock: Callable[[], float] = time.time,
    ):
        self.state = state
        self.console = console
        self.clock = clock
        self._lock = threading.Lock()
        self._live = Live(
            get_renderable=self._frame,
            console=console,
            transient=True,
            auto_refresh=True,
            refresh_per_second=min(fps, MAX_FPS),
            redirect_stdout=True,
            redirect_stderr=True,
        )
        self._running = False

    def _frame(self) -> RenderableType:
        # Built under the lock, from Text copies: the runner may fold the next event meanwhile.
        with self._lock:
            return render_job_view(self.state, self.clock())

    def __enter__(self) -> LiveJobView:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
        # The live region is transient (a paused view leaves no copy behind); the last frame
        # stays on screen once, as the record of how the job ended.
        self.console.print(self._frame())

    def start(self) -> None:
        if not self._running:
            self._live.start()
            self._running = True

    def stop(self) -> None:
        if self._running:
            self._running = False
            self._live.stop()

    def on_event(self, event: Event) -> None:
        with self._lock:
            self.state.apply(event)
            line = transcript_line(self.state, event)
        if line is not None:  # printed above the live region: it stays in the scrollback
            self.console.print(line, no_wrap=True, overflow="ellipsis")

    def on_text(self, chunk: str) -> None:
        with self._lock:
            self.state.add_text(chunk)

    def print(self, renderable: RenderableType) -> None:
        """Print above the live region (it stays in the scrollback)."""
        self.console.print(renderable)

    @contextmanager
    def paused(self) -> Iterator[None]:
        was_running = self._running
        self.stop()
        try:
            yield
        finally:
            if was_running:
                self.start()

    def approver(
        self, *, workspace: Path | None, is_decided: Callable[[dict[str, Any]], bool]
    ) -> Callable[[dict[str, Any]], str | tuple[str, str] | None]:
        """An Approver (see engine.approvals) that asks with the view paused."""
        from agentctl.engine.approvals import decider_name, describe_decider
        from agentctl.events import ApprovalAnswer
        from agentctl.ui.prompts import ask_approval

        def ask(request: dict[str, Any]) -> str | tuple[str, str] | None:
            with self.paused():
                answer = ask_approval(
                    request,
                    console=self.console,
                    workspace=workspace,
                    is_decided=lambda: is_decided(request),
                )
            if answer in (ApprovalAnswer.APPROVE, ApprovalAnswer.APPROVE_ALL):
                # The action's line says who let it run (`A`: the rest of its turn too).
                batch = request.get("batch") or [] if answer == ApprovalAnswer.APPROVE_ALL else []
                name = decider_name(describe_decider())
                with self._lock:
                    for approved in [request, *batch]:
                        self.state.approvers[approved["request"]] = name
            return answer

        return ask


class PlainDisplay:
    """Plain lines on stderr (no terminal codes), with a plain prompt when someone can answer.

    `around` adds lines around each event's line (GitHub workflow commands).
    """

    def __init__(
        self,
        state: JobViewState,
        *,
        around: Callable[[Event], tuple[list[str], list[str]]] | None = None,
        quiet: bool = False,
    ):
        from agentctl.ui.plain import EventPrinter

        self.state = state  # folded too, so callers can ask how the job stands
        self._printer = None if quiet else EventPrinter(state.job_id, around=around)

    def __enter__(self) -> PlainDisplay:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def on_event(self, event: Event) -> None:
        self.state.apply(event)
        if self._printer is not None:
            self._printer.on_event(event)

    # Nothing shows text as it streams (a log gets it once, in its `model_response` line), so
    # the model is not asked to stream: streaming costs ~2 ms a call in litellm's wrapper.
    on_text: Callable[[str], None] | None = None

    def approver(
        self, *, workspace: Path | None, is_decided: Callable[[dict[str, Any]], bool]
    ) -> Callable[[dict[str, Any]], str | tuple[str, str] | None]:
        from agentctl.ui.prompts import ask_approval

        def ask(request: dict[str, Any]) -> str | tuple[str, str] | None:
            return ask_approval(
                request,
                console=Console(stderr=True),
                workspace=workspace,
                is_decided=lambda: is_decided(request),
            )

        return ask


# What open_display gives: the live view on a terminal, plain lines elsewhere.
JobDisplay = LiveJobView | PlainDisplay


def open_display(
    state: JobViewState,
    *,
    live: bool,
    github: bool = False,
    console: Console | None = None,
    quiet: bool = False,
) -> JobDisplay:
    """The live view when `live` (and stderr is a terminal), else plain lines on stderr
    (none when `quiet`)."""
    console = console or Console(stderr=True)
    if live and console.is_terminal:
        return LiveJobView(state, console)
    around = None
    if github:
        from agentctl.ui.github import WorkflowCommands

        around = WorkflowCommands(state.job_id).around
    return PlainDisplay(state, around=around, quiet=quiet)
