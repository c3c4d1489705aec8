"""Data made safe to show a person: control, ANSI and bidi characters as escapes.

Tool output and model text are data, never terminal codes: control characters are shown as
escapes so an `ESC]0;` from a tool cannot retitle or repaint the user's terminal, and a
newline in data cannot forge a second line. Every renderer (plain, live view, GitHub) and
the event formatters in `agentctl.ui.event_lines` go through these.
"""

from __future__ import annotations

import re

# C0/C1 controls (tab and newline excepted), bidi overrides and marks, invisible separators
# and zero-width characters: anything that could hide or reorder what a person reads.
_CONTROL = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e"
    r"\u2060-\u2069\ufeff\ud800-\udfff]"
)
_LINE_BREAKS = re.compile(r"[\n\t]")


def make_visible(text: str) -> str:
    """Show control, ANSI and bidi characters as escapes instead of obeying them; a byte of a
    name that is not UTF-8 (a lone surrogate, by surrogateescape) as `\\xNN`."""
    return _CONTROL.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if "\udc80" <= char <= "\udcff":
        return f"\\x{ord(char) - 0xDC00:02x}"
    return char.encode("unicode_escape").decode("ascii")


def one_line(text: str, width: int = 100) -> str:
    flat = make_visible(" ".join(str(text).split()))
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def flatten_line(text: str) -> str:
    """One visible line: controls escaped, and newlines and tabs too."""
    return _LINE_BREAKS.sub(lambda m: "\\n" if m.group() == "\n" else "\\t", make_visible(text))
