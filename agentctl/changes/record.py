"""Recording what each action did to the workspace, as change dicts for the job's log.

`ChangeRecorder` lives for a whole run and is wrapped around every action that may write. A
file tool (`write_file`, `edit_file`) touches one known path, so only that file is read before
and after. Anything else (shell, custom commands, unknown tools) may touch any file, so the
whole workspace is snapshotted before and after (`agentctl.changes.scan`, whose content cache
keeps the contents a file had *before* a command in hand), and the two snapshots are compared
here: created, modified, deleted, renamed, mode changes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentctl.changes.scan import (
    DEFAULT_MAX_FILE_SIZE,
    DEFAULT_MAX_TOTAL,
    SLOW_SNAPSHOT_SECONDS,
    FileState,
    WorkspaceScanner,
    is_binary,
)

if TYPE_CHECKING:
    from agentctl.tools.base import ToolSpec


@dataclass
class _Token:
    mode: str  # "none" | "file" | "tree"
    rel: str = ""
    state: FileState | None = None
    missing_dirs: list[str] = field(default_factory=list)
    files: dict[str, FileState] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=set)
    markers: dict[str, tuple[int, int]] = field(default_factory=dict)
    git_files: dict[str, FileState] = field(default_factory=dict)


class ChangeRecorder:
    """Records, per action, the workspace files it created, modified, deleted or renamed.

    What a snapshot holds, and the cache that keeps it cheap, is `scanner`'s
    (`agentctl.changes.scan`). `cancel`, when set, stops a walk that comes before an action;
    `warn` hears once per run about a slow snapshot.
    """

    def __init__(
        self,
        workspace: Path,
        *,
        exclude: Iterable[str] = (),
        max_file_size: int = DEFAULT_MAX_FILE_SIZE,
        max_total: int = DEFAULT_MAX_TOTAL,
        gitignore: bool = True,
        cancel: threading.Event | None = None,
        warn: Callable[[str], None] | None = None,
        slow_after: float = SLOW_SNAPSHOT_SECONDS,
    ):
        self.root = Path(workspace).resolve()
        self.scanner = WorkspaceScanner(
            self.root,
            exclude=exclude,
            max_file_size=max_file_size,
            max_total=max_total,
            gitignore=gitignore,
            cancel=cancel,
            warn=warn,
            slow_after=slow_after,
        )
        # prime() may run in a background thread while the first action starts.
        self._lock = threading.Lock()

    def prime(self) -> None:
        """Read the workspace into the cache now, so the first command's snapshot is cheap."""
        with self._lock:
            self.scanner.scan()

    def before(self, spec: ToolSpec | None, args: dict[str, Any]) -> _Token:
        """Capture what the action may change; pass the result to `after`.

        The tool's spec says: a read-only tool changes nothing; one that `touches` a single
        path it writes changes only that file; anything else (or no spec) may change any
        file, so the workspace is snapshotted."""
        if (spec is not None and spec.read_only) or not self.root.is_dir():
            return _Token("none")
        touches = spec.touches if spec is not None else None
        with self._lock:
            if touches is not None and touches.path and touches.writes:
                rel = self._file_tool_path(args.get(touches.path))
                if rel is None:
                    return _Token("none")
                return _Token(
                    "file",
                    rel=rel,
                    state=self.scanner.read_one(rel),
                    missing_dirs=self._missing_dirs(rel),
                )
            files, dirs = self.scanner.scan(cancellable=True)
            return _Token(
                "tree",
                files=files,
                dirs=dirs,
                markers=self.scanner.markers,
                git_files=self.scanner.git_files,
            )

    def after(self, token: _Token) -> list[dict[str, Any]]:
        """The changes since `before`, as JSON-safe dicts (see `change_dict`)."""
        return self.after_with_markers(token)[0]

    def after_with_markers(
        self, token: _Token
    ) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
        """The changes since `before`, and each `.git` that appeared or was replaced meanwhile
        (`{"path", "kind"}`: a walk never enters one, so its files are no changes, except
        the config and hooks of a `.git` that was there all along: they are changes)."""
        changes = self._after(token)
        if token.mode != "tree":
            return changes, []
        now, was = self.scanner.markers, token.markers
        markers = [
            {"path": rel, "kind": "created" if rel not in was else "replaced"}
            for rel, identity in sorted(now.items())
            if was.get(rel) != identity
        ]
        stable = {rel for rel, identity in now.items() if was.get(rel) == identity}
        before = {k: v for k, v in token.git_files.items() if _git_folder(k) in stable}
        after = {k: v for k, v in self.scanner.git_files.items() if _git_folder(k) in stable}
        if before != after:
            changes = sorted(
                changes + diff_snapshots(before, set(), after, set()), key=lambda c: c["path"]
            )
        return changes, markers

    def _after(self, token: _Token) -> list[dict[str, Any]]:
        with self._lock:
            if token.mode == "file":
                now = self.scanner.read_one(token.rel)
                if now is not None:
                    self.scanner.remember(token.rel, now)
                created = [d for d in token.missing_dirs if (self.root / d).is_dir()]
                return _compare(token.rel, token.state, now, created)
            if token.mode == "tree":
                files, dirs = self.scanner.scan()
                return diff_snapshots(token.files, token.dirs, files, dirs)
        return []

    # -- one file ----------------------------------------------------------------------------

    def _file_tool_path(self, path: Any) -> str | None:
        from agentctl.errors import AgentctlError
        from agentctl.workspace import resolve_in_workspace

        if not isinstance(path, str):
            return None
        try:
            resolved = resolve_in_workspace(self.root, path)
        except (AgentctlError, OSError, ValueError):
            return None  # the tool refuses it too; nothing will change
        rel = resolved.relative_to(self.root).as_posix()
        parts = rel.split("/")
        if (
            rel == "."
            or any(self.scanner.excluded("/".join(parts[:i]), True) for i in range(1, len(parts)))
            or self.scanner.excluded(rel, False)
        ):
            return None
        return rel

    def _missing_dirs(self, rel: str) -> list[str]:
        parts = rel.split("/")[:-1]
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        return [p for p in prefixes if not os.path.lexists(self.root / p)]


def _git_folder(rel: str) -> str:
    """The `.git` folder a watched git file (`pkg/.git/hooks/x`) belongs to."""
    cut = rel.rfind("/.git/")
    return rel[: cut + 5] if cut >= 0 else ".git"


_NOTES = {
    "secret": "a secret file (.env*): only its hash is kept",
    "too_large": "larger than changes.max_file_size; content not kept",
    "over_budget": "content not kept: the recorder's memory budget was full",
    "unreadable": "content not kept: the file could not be read",
}


def change_dict(
    kind: str,
    path: str,
    before: FileState | None,
    after: FileState | None,
    *,
    from_path: str | None = None,
    created_dirs: list[str] | None = None,
) -> dict[str, Any]:
    """One recorded change: `{"path", "kind", "from_path"?, "before", "after", "too_large",
    "binary", "created_dirs"?, "note"?}`; before/after are `FileState.to_dict()` or None."""
    sides = [s for s in (before, after) if s is not None]
    lost = [s for s in sides if (s.data if s.kind == "file" else s.target) is None]
    out: dict[str, Any] = {"path": path, "kind": kind}
    if from_path is not None:
        out["from_path"] = from_path
    out["before"] = before.to_dict() if before else None
    out["after"] = after.to_dict() if after else None
    out["too_large"] = bool(lost)
    out["binary"] = any(s.data is not None and is_binary(s.data) for s in sides)
    if created_dirs:
        out["created_dirs"] = created_dirs
    if lost:
        out["note"] = _NOTES.get(lost[0].note or "", "content not kept")
    return out


def _compare(
    rel: str, before: FileState | None, after: FileState | None, created_dirs: list[str]
) -> list[dict[str, Any]]:
    if before is None and after is None:
        return []
    if before is None:
        return [change_dict("created", rel, None, after, created_dirs=created_dirs)]
    if after is None:
        return [change_dict("deleted", rel, before, None)]
    if before.same_content(after):
        if before.mode == after.mode:
            return []
        return [change_dict("mode", rel, before, after)]
    return [change_dict("modified", rel, before, after)]


def diff_snapshots(
    before: dict[str, FileState],
    before_dirs: set[str],
    after: dict[str, FileState],
    after_dirs: set[str],
) -> list[dict[str, Any]]:
    """Changes between two walks, in path order; a deleted+created pair with the same content
    (or the same inode and mtime, for content not kept) is one rename."""
    new_dirs = after_dirs - before_dirs

    def dirs_for(rel: str) -> list[str]:
        parts = rel.split("/")[:-1]
        return [d for d in ("/".join(parts[:i]) for i in range(1, len(parts) + 1)) if d in new_dirs]

    out: list[dict[str, Any]] = []
    for rel, now in after.items():
        was = before.get(rel)
        if was is not None and was is not now:
            out.extend(_compare(rel, was, now, []))
    deleted = sorted(r for r in before if r not in after)
    created = sorted(r for r in after if r not in before)
    by_content: dict[tuple[str, str], list[str]] = {}
    by_inode: dict[tuple[int, int, int], str] = {}
    for rel in deleted:
        was = before[rel]
        if was.sha256:
            by_content.setdefault((was.kind, was.sha256), []).append(rel)
        by_inode[(was.sig[5], was.sig[4], was.sig[2])] = rel
    gone = set(deleted)
    for rel in created:
        now = after[rel]
        source = None
        for candidate in by_content.get((now.kind, now.sha256), []) if now.sha256 else []:
            if candidate in gone:
                source = candidate
                break
        if source is None:
            inode_match = by_inode.get((now.sig[5], now.sig[4], now.sig[2]))
            source = inode_match if inode_match in gone else None
        if source is not None:
            gone.discard(source)
            out.append(
                change_dict(
                    "renamed",
                    rel,
                    before[source],
                    now,
                    from_path=source,
                    created_dirs=dirs_for(rel),
                )
            )
        else:
            out.append(change_dict("created", rel, None, now, created_dirs=dirs_for(rel)))
    out.extend(change_dict("deleted", rel, before[rel], None) for rel in sorted(gone))
    out.sort(key=lambda change: change["path"])
    return out
