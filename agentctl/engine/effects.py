"""Undoing what an action did, when the effect check (`agentctl.policy.effects`) says a
policy denies or asks about it: the engine's side of that check.

The whole action is undone, not only the changes that were refused: a denied action leaves
nothing behind, and one that waits for a person can run again from where it started. Files
are put back from what the change recorder kept (`agentctl.changes.history`'s rollback,
which never follows a symlink), a `.git` that appeared is removed. What cannot be put back
(content too large to keep, a secret file's content, a replaced `.git`) is named.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentctl.changes.history import Change, apply_rollback, plan_rollback
from agentctl.changes.workspace_files import Unreachable, open_parent

if TYPE_CHECKING:
    from agentctl.events import ActionFinishedFields
    from agentctl.policy.effects import EffectCheck


def written_by(changes: Sequence[Mapping[str, Any]]) -> set[str]:
    """The files a change set leaves with content this job wrote (not a mode change)."""
    return {c["path"] for c in changes if c.get("after") is not None and c["kind"] != "mode"}


def undo_refused(
    workspace: Path,
    check: EffectCheck,
    changes: Sequence[Mapping[str, Any]],
    markers: Sequence[Mapping[str, str]],
    extra: ActionFinishedFields,
) -> list[str]:
    """Undo an action whose effects `check` refuses; `extra` (its log fields) gains the
    effects, the rules and what could not be undone (also returned, each with why)."""
    extra.update({"effects": check.to_list(), "rules": check.rule_objects()})
    problems = undo_action(workspace, changes, markers)
    if problems:
        extra["not_undone"] = problems
    return problems


def undo_action(
    workspace: Path, changes: Sequence[Mapping[str, Any]], markers: Sequence[Mapping[str, str]]
) -> list[str]:
    """Put the workspace back as it was before the action; the paths that could not be
    (each with why) are returned."""
    problems = [p for m in markers if (p := _remove_marker(workspace, m)) is not None]
    parsed = [
        Change(
            id=f"0.{i}",
            seq=0,
            index=i,
            step=None,
            path=c["path"],
            kind=c["kind"],
            before=c.get("before"),
            after=c.get("after"),
            from_path=c.get("from_path"),
            too_large=bool(c.get("too_large")),
            binary=bool(c.get("binary")),
            created_dirs=list(c.get("created_dirs") or []),
            note=c.get("note"),
        )
        for i, c in enumerate(changes)
    ]
    if parsed:
        plan = plan_rollback(parsed, workspace, to_step=None, step_order=[])
        result = apply_rollback(plan, workspace, force=False)
        problems += [f"{c['path']}: {c['reason']}" for c in result.conflicts]
        problems += [
            f"{p}: its content before the action was not kept" for p in result.skipped_too_large
        ]
    return problems


def _remove_marker(workspace: Path, marker: Mapping[str, str]) -> str | None:
    """Remove a `.git` the action made; a replaced one cannot be put back."""
    rel = marker["path"]
    if marker.get("kind") != "created":
        return f"{rel}: replaced; what it held before was never recorded"
    try:
        fd, name = open_parent(workspace, rel)
    except (Unreachable, OSError) as error:
        return f"{rel}: could not be reached ({error})"
    try:
        st = os.lstat(name, dir_fd=fd)
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(name, dir_fd=fd)
        else:
            os.unlink(name, dir_fd=fd)
    except FileNotFoundError:
        return None
    except OSError as error:
        return f"{rel}: could not be removed ({error.strerror or error})"
    finally:
        os.close(fd)
    return None


__all__ = ["undo_action"]
