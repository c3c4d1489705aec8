"""How much a job changed, file by file: the `git diff --stat` of its net changes.

`diff_stats(changes)` folds a job's recorded changes (`agentctl.changes.history`) into one
`FileStat` per file, with the lines added and removed where the content was kept as text; the
end of a run shows them in one line (`files changed: calc.py (+3 −1)`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from agentctl.changes.history import Change, State, net_changes


@dataclass(frozen=True)
class FileStat:
    path: str
    kind: str  # created | modified | deleted | renamed | mode
    added: int | None = None  # None: binary or content not kept, so no line count
    removed: int | None = None
    from_path: str | None = None
    note: str = ""  # why there is no line count: "binary", "content not kept"


def _lines(state: State) -> list[str] | None:
    if state is None:
        return []
    text = state.get("text")
    return None if text is None else text.splitlines()


def _count(change: Change) -> tuple[int | None, int | None]:
    before, after = _lines(change.before), _lines(change.after)
    if before is None or after is None or change.binary or change.too_large:
        return None, None
    added = removed = 0
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            removed += i2 - i1
            added += j2 - j1
    return added, removed


def diff_stats(changes: Iterable[Change]) -> list[FileStat]:
    """One entry per file the changes add up to, sorted by path."""
    out = []
    for change in net_changes(changes):
        added, removed = _count(change)
        note = "binary" if change.binary else "content not kept" if added is None else ""
        out.append(FileStat(change.path, change.kind, added, removed, change.from_path, note))
    return out
