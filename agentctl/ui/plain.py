"""The plain renderer: one line per event, with its time, for logs, pipes and CI.

The sentence is the event's formatter (`agentctl.ui.event_lines.describe_event`); the whole line goes
through `agentctl.visible`, so data never becomes a terminal code or a second line. This
module writes no ANSI codes at all.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from agentctl.times import human_time
from agentctl.ui.event_lines import check_attempt, describe_event
from agentctl.ui.words import FAILURE_TAIL_LINES
from agentctl.visible import flatten_line

if TYPE_CHECKING:
    from agentctl.store.base import Event


def _clock(ts: float) -> str:
    return human_time(ts)


def output_tail(type_: str, data: dict[str, Any], lines: int = FAILURE_TAIL_LINES) -> list[str]:
    """The last lines of a failed run step's or check's output, shown under its line: that
    is what made the step fail. (An agent's own failed commands are the model's business.)"""
    if type_ != "action_finished" or data.get("ok") or data.get("refused"):
        return []
    key = data.get("key") or ""
    if not (key.endswith("/run") or check_attempt(key)):
        return []
    output = (data.get("output") or "").rstrip("\n")
    if not output:
        return []
    return ["    │ " + flatten_line(line) for line in output.split("\n")[-lines:]]


def format_event_line(
    seq: int, ts: float, type_: str, step: str | None, data: dict[str, Any]
) -> str | None:
    text = describe_event(type_, step, data)
    if text is None:
        return None
    # Names, paths and hosts come from outside too: the whole line is made visible.
    return f"{_clock(ts)} {flatten_line(text)}"


class EventPrinter:
    """Prints a job's events as plain lines (prefixed with the job id) to a stream.

    `around(event)` may add lines before and after an event's own line (GitHub workflow
    commands); they are printed as given.
    """

    def __init__(
        self,
        job_id: str,
        stream: TextIO | None = None,
        around: Callable[[Event], tuple[list[str], list[str]]] | None = None,
    ):
        self.job_id = job_id
        self.stream = stream
        self.around = around
        self.closed = False

    def on_event(self, event: Event) -> None:
        if self.closed:
            return
        out = self.stream or sys.stderr
        before, after = self.around(event) if self.around else ([], [])
        line = format_event_line(event.seq, event.ts, event.type, event.step, event.data)
        tail = output_tail(event.type, event.data) if line else []
        try:
            for text in [*before, *([f"{self.job_id} {line}"] if line else []), *tail, *after]:
                print(text, file=out)
            out.flush()
        except (BrokenPipeError, ValueError):  # ValueError: the stream was closed here
            self.closed = True
            silence(out)


def silence(stream: TextIO) -> None:
    """Point a stream whose reader went away (`agentctl run ... | head`) at /dev/null, so
    neither a later print nor the flush at exit fails: output nobody reads is not an error."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
