"""The prompts that ask a person something: an approval, a rollback.

`ask_approval` shows the whole action (a shell command is never truncated; control, ANSI and
bidi characters are shown as escapes; a run of blank lines is one line saying how many were
there), the rules that asked, a diff preview for file writes, and waits for one key. It never
asks while part of the action is out of sight: when the panel is taller than the terminal it
shows the head, says `(N lines hidden)`, and accepts `a` only once the whole action has been
read in a pager (`p`). While it waits it polls `is_decided`, so `agentctl approve` from
another terminal closes it. `offer_rollback` asks whether to undo a run's file changes.
"""

from __future__ import annotations

import json
import os
import select
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.text import Text

from agentctl.times import human_time
from agentctl.ui.words import rules_words
from agentctl.visible import make_visible

POLL_SECONDS = 0.2
DIFF_PREVIEW_LINES = 60
# A file bigger than this is not read for a preview.
PREVIEW_MAX_BYTES = 1_000_000


# -- what the prompt shows -----------------------------------------------------------------


def _visible(text: Any, style: str = "") -> Text:
    return Text(make_visible(str(text)), style=style)


def compact_blank_runs(text: str) -> Text:
    """`text` shown whole, except that a run of two or more blank lines becomes one dim line
    saying how many there were: blank lines must not push the start of an action out of
    sight (`curl ... | sh`, sixty newlines, `git status`)."""
    out = Text()
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        j = i
        while j < len(lines) and not lines[j].strip():
            j += 1
        if j - i >= 2:
            if out:
                out.append("\n")
            out.append(f"⋯ ({j - i} blank lines hidden)", style="dim")
            i = j
            continue
        if i:
            out.append("\n")
        out.append_text(_visible(lines[i]))
        i += 1
    return out


def _read_workspace_file(workspace: Path | None, path: str) -> str | None:
    """The current text of a workspace file, or None (missing, outside, binary, too big)."""
    if workspace is None:
        return None
    try:
        root = workspace.resolve()
        target = (root / path).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            return None
        st = target.stat()
        if st.st_size > PREVIEW_MAX_BYTES or st.st_nlink > 1:  # another name may be outside
            return None
        return target.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def diff_preview(tool: str | None, args: dict[str, Any], workspace: Path | None) -> list[str]:
    """Unified diff lines of what a write_file/edit_file would do; [] for other tools."""
    path = args.get("path")
    if not isinstance(path, str):
        return []
    current = _read_workspace_file(workspace, path)
    if tool == "write_file" and isinstance(args.get("content"), str):
        before, after = current or "", args["content"]
        label = path if current is not None else "/dev/null"
    elif (
        tool == "edit_file"
        and isinstance(args.get("old"), str)
        and isinstance(args.get("new"), str)
    ):
        old, new = args["old"], args["new"]
        if current is not None and current.count(old) == 1:
            before, after = current, current.replace(old, new, 1)
        else:  # the edit as given; the tool itself will say whether `old` matches
            before, after = old, new
        label = path
    else:
        return []
    if len(before) + len(after) > PREVIEW_MAX_BYTES:  # difflib is slow on huge texts
        return []
    import difflib  # ~7 ms to import, needed only here

    return list(
        difflib.unified_diff(
            before.splitlines(),
            after.splitlines(),
            fromfile=f"a/{label}" if label != "/dev/null" else label,
            tofile=f"b/{path}",
            lineterm="",
        )
    )


def _render_diff(lines: list[str], limit: int | None) -> Text:
    shown = lines if limit is None else lines[:limit]
    out = Text()
    for number, line in enumerate(shown):
        if number:
            out.append("\n")
        style = (
            "bold"
            if line.startswith(("+++", "---"))
            else "green"
            if line.startswith("+")
            else "red"
            if line.startswith("-")
            else "cyan"
            if line.startswith("@@")
            else ""
        )
        out.append_text(_visible(line, style))
    if limit is not None and len(lines) > limit:
        out.append(
            f"\n… {len(lines) - limit} more diff lines: press ? to see them all", style="dim"
        )
    return out


def render_approval(
    request: dict[str, Any], *, workspace: Path | None = None, details: bool = False
) -> RenderableType:
    """The approval request as a panel: reason, the full action, rules, a diff preview."""
    tool = request.get("tool")
    args = request.get("args") or {}
    parts: list[RenderableType] = [_visible(request.get("reason", ""), "bold")]
    diff = diff_preview(tool, args, workspace)
    if tool is None and isinstance(args.get("diff"), str) and "server" in args:
        # An MCP server's tools changed since the job pinned them: show how.
        parts.append(_visible(f"changed tool definitions of MCP server {args['server']}", "dim"))
        diff = args["diff"].splitlines()
    elif tool is None:
        parts.append(Text(f"a human gate of step {request.get('step')}", style="dim"))
    elif tool == "shell" and "command" in args:
        command = Text("$ ", style="bold")
        command.append_text(compact_blank_runs(str(args["command"])))  # wrapped, never cut
        parts += [Text("shell command:", style="dim"), command]
    else:
        parts.append(Text.assemble(("tool ", "dim"), _visible(tool, "bold")))
        diff_keys = ("content", "old", "new") if diff else ()
        for key, value in args.items():
            if details or key not in diff_keys:  # those are shown as the diff below
                shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                parts.append(Text.assemble((f"{key}: ", "dim"), compact_blank_runs(shown)))
    rules = request.get("rules") or []
    if rules:
        said = rules_words(rules, reasons=True)
        parts.append(Text.assemble(("asked by: ", "dim"), _visible(said, "yellow")))
    elif tool is not None and not str(request.get("reason", "")).startswith("uncertain"):
        parts.append(Text("asked by: the policy's default (no rule matched)", style="dim"))
    if diff:
        parts.append(_render_diff(diff, None if details else DIFF_PREVIEW_LINES))
    if details:
        parts.append(
            _visible(
                json.dumps(
                    {
                        k: human_time(request[k]) if k == "created_at" else request.get(k)
                        for k in (
                            "request",
                            "step",
                            "key",
                            "tool",
                            "args",
                            "action_hash",
                            "created_at",
                        )
                        if k in request
                    },
                    ensure_ascii=False,
                    indent=2,
                    default=str,
                ),
                "dim",
            )
        )
    title = Text(f" approval {request.get('request')} · step ", style="yellow bold")
    title.append_text(_visible(request.get("step") or "-", "yellow bold"))
    title.append(" ")
    return Panel(Group(*parts), title=title, title_align="left", border_style="yellow")


KEYS_HINT = Text.assemble(
    "press ",
    ("a", "bold green"),
    " to approve, ",
    ("d", "bold red"),
    " to deny, ",
    ("?", "bold"),
    " for details: ",
)


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
    reason for the agent), "decided" (answered elsewhere meanwhile), or None when nobody can
    answer here (end of input).

    An action taller than the terminal is shown cut, with `(N lines hidden)`; `a` is not
    accepted until `p` (or `?`) has shown all of it in `pager`.
    """
    console = console or Console(stderr=True)
    console.print()
    panel = render_approval(request, workspace=workspace)
    shown, hidden = _fit(console, panel)
    console.print(shown)
    approve = {"a": "approve", "y": "approve"}
    keys = {"d": "deny", "n": "deny", "?": "details", "p": "details"}
    if not hidden:
        keys.update(approve)
    with reader or KeyReader() as keyboard:
        while True:
            console.print(KEYS_HINT if not hidden or "a" in keys else PAGER_HINT, end="")
            console.file.flush()
            answer = wait_for_key(keys, reader=keyboard, is_decided=is_decided)
            console.print()
            if answer != "details":
                break
            details = render_approval(request, workspace=workspace, details=True)
            if hidden or _fit(console, details)[1]:
                pager(console, details)
                keys.update(approve)  # every line has now been in front of the person
            else:
                console.print(details)
        reason = ""
        if answer == "deny":
            console.print(
                Text("why? (optional; the agent is told) then Enter: ", style="dim"), end=""
            )
            console.file.flush()
            reason = " ".join((keyboard.read_line() or "").split())
    request_id = request.get("request")
    if answer == "approve":
        console.print(Text(f"approved {request_id}", style="green"))
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
            _visible(changes_summary),
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
