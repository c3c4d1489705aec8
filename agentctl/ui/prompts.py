"""The prompts that ask a person something: an approval, a rollback.

`ask_approval` shows the whole action as ui/approval_panel.py draws it (once: a write's
content as its diff, never again raw or as JSON) and waits for one key. It never asks while part
of the action is out of sight: when the panel is taller than the terminal it shows the head,
says how many lines are hidden, and takes `a` only once the whole action has been read in a
pager (`p`), saying so when `a` comes first. `A` approves the rest of the model turn too (the
request's `batch`), after showing each of those actions. While it waits it polls
`is_decided`, so `agentctl approve` from another terminal closes it. `offer_rollback` asks
whether to undo a run's file changes.
"""

from __future__ import annotations

import os
import select
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.text import Text

from agentctl.ui.approval_panel import render_approval, visible_text

POLL_SECONDS = 0.2


KEYS_HINT = Text.assemble(
    "press ",
    ("a", "bold green"),
    " to approve, ",
    ("d", "bold red"),
    " to deny, ",
    ("?", "bold"),
    " for details: ",
)


def keys_hint(paged: bool, batch: int) -> Text:
    """The keys the prompt takes now: `a` only once every line has been in sight, `A` for
    the rest of the turn when there is a rest."""
    hint = KEYS_HINT.copy() if paged else PAGER_HINT.copy()
    if batch:
        hint.append_text(
            Text.assemble(
                "(or ", ("A", "bold green"), f" to approve all {batch + 1} of this turn) "
            )
        )
    return hint


PAGER_HINT = Text.assemble(
    "press ",
    ("p", "bold"),
    " to read the whole action (then ",
    ("a", "bold green"),
    " approves), ",
    ("d", "bold red"),
    " to deny: ",
)


# -- reading keys ------------------------------------------------------------------------


class KeyReader:
    """Single keys from a terminal (cbreak: no Enter needed, Ctrl-C still interrupts).

    On a stream that is not a terminal it reads whole lines instead.
    """

    def __init__(self, stream: Any = None):
        self.stream = stream or sys.stdin
        self._saved: list[Any] | None = None

    def __enter__(self) -> KeyReader:
        try:
            self.fd = self.stream.fileno()
        except (AttributeError, OSError, ValueError):
            self.fd = None
        if self.fd is not None and os.isatty(self.fd):
            import termios
            import tty

            self._saved = termios.tcgetattr(self.fd)
            tty.setcbreak(self.fd)
            # Keys typed before the question was shown must not answer it.
            termios.tcflush(self.fd, termios.TCIFLUSH)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._saved is not None:
            import termios

            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            self._saved = None

    def read_line(self) -> str | None:
        """A whole line, typed with echo and editing (the terminal's own line mode for a
        moment); None at end of input."""
        if self.fd is None:
            line = self.stream.readline()
            return line.rstrip("\r\n") if line else None
        if self._saved is None:
            line = self.stream.readline()
            return line.rstrip("\r\n") if line else None
        import termios
        import tty

        termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
        try:
            chunks: list[bytes] = []
            while True:
                data = os.read(self.fd, 1024)
                if not data:
                    return None if not chunks else b"".join(chunks).decode("utf-8", "replace")
                chunks.append(data)
                if data.endswith((b"\n", b"\r")):
                    return b"".join(chunks).decode("utf-8", "replace").rstrip("\r\n")
        finally:
            tty.setcbreak(self.fd)

    def read(self, timeout: float) -> str | None:
        """A key, "" when none came within `timeout`, None at end of input."""
        if self.fd is None:
            line = self.stream.readline()
            return line.strip()[:1] if line else None
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return ""
        if self._saved is None:  # not a terminal: a line at a time
            line = self.stream.readline()
            return (line.strip()[:1] or "\n") if line else None
        data = os.read(self.fd, 32)
        return data.decode("utf-8", "replace")[:1] if data else None


def wait_for_key(
    keys: dict[str, str],
    *,
    reader: KeyReader,
    is_decided: Callable[[], bool] | None,
    poll: float = POLL_SECONDS,
) -> str | None:
    """The answer for the first key in `keys`; "decided" when `is_decided()` turns true."""
    while True:
        if is_decided is not None and is_decided():
            return "decided"
        key = reader.read(poll)
        if key is None:
            return None
        if key and key in keys:  # `A` (all) is not `a`
            return keys[key]
        if key and key.lower() in keys:
            return keys[key.lower()]


# -- the prompts -------------------------------------------------------------------------


def _page(console: Console, renderable: RenderableType) -> None:
    """Show `renderable` in the user's pager ($PAGER, else less), then come back."""
    with console.pager(styles=False):
        console.print(renderable)


def _fit(console: Console, panel: RenderableType) -> tuple[RenderableType, int]:
    """What fits on the screen with the prompt under it, and how many lines were left out."""
    lines = console.render_lines(panel, console.options, pad=False)
    room = max(console.height - 4, 5)  # the hint line, the blank line above, a margin
    if len(lines) <= room:
        return panel, 0
    hidden = len(lines) - (room - 1)
    head = Text()
    for number, line in enumerate(lines[: room - 1]):
        if number:
            head.append("\n")
        for segment in line:
            head.append(segment.text, style=segment.style)
    head.append(
        f"\n({hidden} lines hidden: press p to read the whole action before approving)",
        style="bold yellow",
    )
    return head, hidden


# The prompt's keys and what each answers (`A`, approve all, only for a batch).
_ANSWER_KEYS = {
    "a": "approve",
    "y": "approve",
    "d": "deny",
    "n": "deny",
    "?": "details",
    "p": "details",
}


def ask_approval(
    request: dict[str, Any],
    *,
    console: Console | None = None,
    workspace: Path | None = None,
    is_decided: Callable[[], bool] | None = None,
    reader: KeyReader | None = None,
    pager: Callable[[Console, RenderableType], None] = _page,
) -> str | tuple[str, str] | None:
    """Ask on the terminal: "approve", "deny" (or ("deny", reason) when the person typed a
    reason for the agent), "approve_all" (this and the request's `batch`), "decided"
    (answered elsewhere meanwhile), or None when nobody can answer here (end of input).

    An action taller than the terminal is shown cut, with `(N lines hidden)`; `a` is not
    accepted until `p` (or `?`) has shown all of it in `pager`.
    """
    console = console or Console(stderr=True)
    console.print()
    shown, hidden = _fit(console, render_approval(request, workspace=workspace))
    console.print(shown)
    batch = list(request.get("batch") or [])
    paged = not hidden  # every line of the action has been in front of the person
    keys = {**_ANSWER_KEYS, "A": "approve_all"} if batch else dict(_ANSWER_KEYS)
    with reader or KeyReader() as keyboard:
        while True:
            console.print(keys_hint(paged, len(batch)), end="")
            console.file.flush()
            answer = wait_for_key(keys, reader=keyboard, is_decided=is_decided)
            console.print()
            if answer == "approve" and not paged:
                console.print(
                    Text(
                        f"a waits until you have read the whole action: {hidden} lines are"
                        " out of sight; press p to page through them",
                        style="yellow",
                    )
                )
            elif answer == "details":
                details = render_approval(request, workspace=workspace, details=True)
                if hidden or _fit(console, details)[1]:
                    pager(console, details)
                    paged = True
                else:
                    console.print(details)
            elif answer == "approve_all":
                if _confirm_all(request, batch, console, keyboard, pager, workspace, paged):
                    break
            else:
                break
        reason = _ask_reason(console, keyboard) if answer == "deny" else ""
    return _said(console, request, batch, answer, reason)


def _ask_reason(console: Console, keyboard: KeyReader) -> str:
    """A denial's reason for the agent, on one line (may be empty)."""
    console.print(Text("why? (optional; the agent is told) then Enter: ", style="dim"), end="")
    console.file.flush()
    return " ".join((keyboard.read_line() or "").split())


def _confirm_all(
    request: dict[str, Any],
    batch: list[dict[str, Any]],
    console: Console,
    keyboard: KeyReader,
    pager: Callable[[Console, RenderableType], None],
    workspace: Path | None,
    paged: bool,
) -> bool:
    """Show the rest of the turn (in the pager, with this action, when anything would be out
    of sight), then ask once more: `y` approves them all."""
    rest = Group(*(render_approval(r, workspace=workspace) for r in batch))
    if not paged or _fit(console, rest)[1]:
        whole = Group(render_approval(request, workspace=workspace, details=True), rest)
        pager(console, whole)
    else:
        console.print(rest)
    names = ", ".join(r["request"] for r in [request, *batch])
    console.print(
        Text.assemble(
            f"approve all {len(batch) + 1} ({names})? press ",
            ("y", "bold green"),
            " for all of them, any other key to go back: ",
        ),
        end="",
    )
    console.file.flush()
    while True:
        key = keyboard.read(POLL_SECONDS)
        if key is None or key:
            console.print()
            return key is not None and key.lower() == "y"


def _said(
    console: Console,
    request: dict[str, Any],
    batch: list[dict[str, Any]],
    answer: str | None,
    reason: str,
) -> str | tuple[str, str] | None:
    """The answer as the prompt's last line, and as ask_approval returns it."""
    request_id = request.get("request")
    if answer == "approve":
        console.print(Text(f"approved {request_id}", style="green"))
    elif answer == "approve_all":
        names = ", ".join(str(r.get("request")) for r in [request, *batch])
        console.print(Text(f"approved {names}", style="green"))
    elif answer == "deny":
        console.print(Text(f"denied {request_id}", style="red"))
        if reason:
            return ("deny", reason)
    elif answer == "decided":
        console.print(Text(f"{request_id} was decided from another terminal", style="yellow"))
    return answer


def offer_rollback(
    changes_summary: str, *, console: Console | None = None, reader: KeyReader | None = None
) -> bool:
    """After a failed or cancelled interactive run: undo its file changes? [y/N].

    `changes_summary` is shown as data (escaped); the caller does the rollback when True.
    """
    console = console or Console(stderr=True)
    console.print(
        Panel(
            visible_text(changes_summary),
            title="files this run changed",
            title_align="left",
            border_style="yellow",
        )
    )
    console.print(
        Text.assemble(
            "roll these changes back? press ",
            ("y", "bold"),
            " for yes, ",
            ("n", "bold"),
            " or Enter for no: ",
        ),
        end="",
    )
    console.file.flush()
    with reader or KeyReader() as keyboard:
        answer = wait_for_key(
            {"y": "yes", "n": "no", "\n": "no", "\r": "no"}, reader=keyboard, is_decided=None
        )
    console.print()
    return answer == "yes"
