"""Fakes for the approval prompt's tests: a keyboard that types given keys, and a pager that
records what it was shown."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from rich.console import Console


class Keys:
    """A fake KeyReader: each read returns the next item ("" = no key within the timeout,
    None = end of input); `line` is what is typed when a whole line is asked for (the reason
    after `d`)."""

    def __init__(self, *keys: str | None, line: str | None = ""):
        self.keys = list(keys)
        self.reads = 0
        self.line = line

    def __enter__(self) -> Keys:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def read(self, timeout: float) -> str | None:
        self.reads += 1
        return self.keys.pop(0) if self.keys else None

    def read_line(self) -> str | None:
        return self.line


def recording_pager(pages: list[str]) -> Callable[[Console, Any], None]:
    """A pager for ask_approval that appends the plain text of what it shows to `pages`."""

    def pager(console: Console, renderable: Any) -> None:
        text = Console(file=io.StringIO(), width=100, color_system=None, record=True)
        text.print(renderable)
        pages.append(text.export_text())

    return pager
