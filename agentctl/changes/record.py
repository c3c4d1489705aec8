"""Recording what each action did to the workspace, as change dicts for the job's log.

`ChangeRecorder` lives for a whole run and is wrapped around every action that may write. A
file tool (`write_file`, `edit_file`) touches one known path, so only that file is read before
and after. Anything else (shell, custom commands, unknown tools) may touch any file, so the
whole workspace is snapshotted before and after: one `scandir` walk with an `lstat` per entry.
The content a file had *before* a command must be in hand before the command runs, so the
recorder keeps a cache of file contents keyed by path and stat signature; a walk re-reads only
files whose signature changed (or that were modified too recently to trust their timestamp),
which keeps a no-change snapshot down to the walk itself.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentctl.policy.globs import glob_pattern

if TYPE_CHECKING:
    from agentctl.tools.base import ToolSpec

from agentctl.changes.ignore import compile_gitignore, default_skips

DEFAULT_MAX_FILE_SIZE = 1_000_000
DEFAULT_MAX_TOTAL = 256 * 1024 * 1024
# Bytes sniffed for a NUL to call content binary (git's heuristic; tools/files.py uses it too).
BINARY_SNIFF = 8192
# Kernel file timestamps come from a coarse clock (1-10 ms ticks, sometimes lagging). A file
# read within this window of its last write could be written again in the same tick without
# its size or mtime showing it ("racy git"), so such entries are re-read at the next walk.
RACY_WINDOW_NS = 100_000_000
ALWAYS_EXCLUDED = ".git"
# O_NONBLOCK: a file that is not what its type says (a device node swapped in after the walk
# looked) must not block the snapshot; regular files ignore the flag.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
# A snapshot slower than this says so (files counted, time taken) once per run.
SLOW_SNAPSHOT_SECONDS = 2.0
# How many entries a walk looks at between two looks at the cancel flag.
CANCEL_CHECK_EVERY = 512


class FileState:
    """One file or symlink as seen at one moment; `data` is None when its content was not kept
    (`note` says why: too_large, over_budget, unreadable)."""

    __slots__ = ("data", "kind", "note", "racy", "sha256", "sig", "target")

    def __init__(
        self,
        kind: str,
        sig: tuple,
        sha256: str | None,
        data: bytes | None = None,
        target: str | None = None,
        note: str | None = None,
        racy: bool = False,
    ):
        self.kind, self.sig, self.sha256, self.data = kind, sig, sha256, data
        self.target, self.note, self.racy = target, note, racy

    @property
    def mode(self) -> int:
        return self.sig[0]

    @property
    def size(self) -> int:
        return self.sig[1]

    def same_content(self, other: FileState) -> bool:
        if self.kind != other.kind:
            return False
        if self.sha256 and other.sha256:
            return self.sha256 == other.sha256
        return self.sig[1:3] == other.sig[1:3]  # content never read: size and mtime must do

    def to_dict(self) -> dict[str, Any]:
        """The JSON-safe form stored in the log: mode git-style, content as text or base64."""
        # git's modes: a symlink's permission bits mean nothing, so a link is always 120000.
        mode = 0o120000 if self.kind == "link" else self.mode
        out: dict[str, Any] = {"mode": f"{mode:o}", "sha256": self.sha256, "size": self.size}
        if self.kind == "link":
            if self.target is not None:
                out["link"] = self.target
        elif self.data is not None:
            if is_binary(self.data):
                out["base64"] = base64.b64encode(self.data).decode("ascii")
            else:
                out["text"] = self.data.decode("utf-8")
        return out


def is_binary(data: bytes) -> bool:
    if b"\0" in data[:BINARY_SNIFF]:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def is_secret_file(rel: str) -> bool:
    """A `.env*` file: its content is a secret, recorded as a hash only."""
    return rel.rsplit("/", 1)[-1].startswith(".env")


def _storable(text: str) -> bool:
    """Whether a name can go in the log: a non-UTF-8 name decodes to lone surrogates, which
    SQLite text cannot hold (and JSON consumers reject), so such files are not tracked."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _sig(st: os.stat_result) -> tuple:
    return (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


# --- excludes -------------------------------------------------------------------------------


def compile_excludes(patterns: Iterable[str]) -> Callable[[str, bool], bool]:
    """A test `(relative path, is_dir) -> excluded`. A pattern without `/` matches a name at
    any depth; with one (or a leading `/`) the whole path; a trailing `/` only directories."""
    anywhere: list[str] = []
    anchored: list[str] = []
    dirs_anywhere: list[str] = []
    dirs_anchored: list[str] = []
    for raw in patterns:
        pattern = raw.strip()
        dir_only = pattern.endswith("/")
        pattern = pattern.strip("/") if pattern.startswith("/") else pattern.rstrip("/")
        if not pattern:
            continue
        regex = glob_pattern(pattern)
        rooted = "/" in raw.strip().rstrip("/")
        (
            dirs_anchored
            if dir_only and rooted
            else dirs_anywhere
            if dir_only
            else anchored
            if rooted
            else anywhere
        ).append(regex)

    def join(parts: list[str]) -> re.Pattern | None:
        return re.compile("(?:" + "|".join(parts) + r")\Z") if parts else None

    names, paths = join(anywhere), join(anchored)
    dir_names, dir_paths = join(dirs_anywhere), join(dirs_anchored)

    def excluded(rel: str, is_dir: bool) -> bool:
        name = rel.rsplit("/", 1)[-1]
        if name == ALWAYS_EXCLUDED:
            return True
        if (names and names.match(name)) or (paths and paths.match(rel)):
            return True
        return is_dir and bool(
            (dir_names and dir_names.match(name)) or (dir_paths and dir_paths.match(rel))
        )

    return excluded


# --- recording ------------------------------------------------------------------------------


@dataclass
class _Token:
    mode: str  # "none" | "file" | "tree"
    rel: str = ""
    state: FileState | None = None
    missing_dirs: list[str] = field(default_factory=list)
    files: dict[str, FileState] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=set)


class SnapshotCancelled(Exception):
    """The job was cancelled while a snapshot walked the workspace."""


class ChangeRecorder:
    """Records, per action, the workspace files it created, modified, deleted or renamed.

    Snapshots hold regular files and symlinks only, and never leave the workspace's file
    system: a mount below it (`/proc`, `/sys`, `/dev`, another disk) is not walked, so a
    special file can neither block a snapshot nor fill its memory. `cancel`, when set, stops
    a walk that comes before an action; `warn` hears once per run about a slow snapshot.
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
        self.max_file_size = max_file_size
        self.max_total = max_total
        self.excluded = compile_excludes(exclude)
        user_excluded, skipped = self.excluded, default_skips(self.root, gitignore=gitignore)
        # Whole-tree walks also skip caches and git-ignored paths; file tools do not.
        # A .env* file is watched even when git ignores it (it usually does): a change to it
        # must show, as a hash.
        self.walk_excluded = lambda rel, is_dir: (
            user_excluded(rel, is_dir)
            or (skipped(rel, is_dir) and (is_dir or not is_secret_file(rel)))
        )
        self.gitignore = gitignore
        # A folder's own .gitignore, compiled once per version of the file: path -> (sig, test).
        self._folder_ignores: dict[str, tuple[tuple, Callable[[str, bool], bool]]] = {}
        self.cancel = cancel
        self.warn = warn
        self.slow_after = slow_after
        self._warned_slow = self._said_scanning = False
        self._cache: dict[str, FileState] = {}
        self.kept_bytes = 0
        # prime() may run in a background thread while the first action starts.
        self._lock = threading.Lock()

    def prime(self) -> None:
        """Read the workspace into the cache now, so the first command's snapshot is cheap."""
        with self._lock:
            self._scan()

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
                    "file", rel=rel, state=self._read_one(rel), missing_dirs=self._missing_dirs(rel)
                )
            files, dirs = self._scan(cancellable=True)
            return _Token("tree", files=files, dirs=dirs)

    def after(self, token: _Token) -> list[dict[str, Any]]:
        """The changes since `before`, as JSON-safe dicts (see `change_dict`)."""
        with self._lock:
            if token.mode == "file":
                now = self._read_one(token.rel)
                if now is not None:
                    self._remember(token.rel, now)
                created = [d for d in token.missing_dirs if (self.root / d).is_dir()]
                return _compare(token.rel, token.state, now, created)
            if token.mode == "tree":
                files, dirs = self._scan()
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
        if not _storable(rel):
            return None
        parts = rel.split("/")
        if (
            rel == "."
            or any(self.excluded("/".join(parts[:i]), True) for i in range(1, len(parts)))
            or self.excluded(rel, False)
        ):
            return None
        return rel

    def _missing_dirs(self, rel: str) -> list[str]:
        parts = rel.split("/")[:-1]
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        return [p for p in prefixes if not os.path.lexists(self.root / p)]

    def _read_one(self, rel: str) -> FileState | None:
        from agentctl.changes.workspace_files import Unreachable, open_parent

        try:  # a parent swapped for a symlink must not send the read outside
            fd, _ = open_parent(self.root, rel)
            os.close(fd)
            st = os.lstat(self.root / rel)
        except (OSError, Unreachable):
            return None
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
            return None
        return self._read(rel, str(self.root / rel), _sig(st), time.time_ns())

    # -- snapshots ---------------------------------------------------------------------------

    def _scan(self, *, cancellable: bool = False) -> tuple[dict[str, FileState], set[str]]:
        """One walk. `cancellable` walks (before an action) stop at a cancel; the walk after
        an action always finishes, since what the action changed must be recorded."""
        started = time.time_ns()
        clock = time.monotonic()
        cache = self._cache
        cancel = self.cancel if cancellable else None
        try:
            device = os.stat(self.root).st_dev
        except OSError:
            return {}, set()
        files: dict[str, FileState] = {}
        dirs: set[str] = set()
        # Each folder to walk, with the .gitignore tests of the folders above it (below the root,
        # whose file is part of walk_excluded): (prefix, path, ((folder prefix, test), ...)).
        stack: list[tuple[str, str, tuple]] = [("", str(self.root), ())]
        unlisted: list[str] = []
        seen = 0
        while stack:
            prefix, path, ignores = stack.pop()
            own = self._folder_ignore(path) if prefix and self.gitignore else None
            if own is not None:
                ignores = (*ignores, (prefix, own))
            if ignores:
                excluded = self._with_folder_ignores(ignores)
            else:
                excluded = self.walk_excluded
            try:
                entries = os.scandir(path)
            except OSError:
                unlisted.append(prefix)
                continue
            with entries:
                for entry in entries:
                    seen += 1
                    if seen % CANCEL_CHECK_EVERY == 0:
                        if cancel is not None and cancel.is_set():
                            raise SnapshotCancelled()
                        self._say_if_slow(seen, clock, done=False)
                    rel = prefix + entry.name
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            # Another file system (/proc, /sys, /dev, a mount) is not the
                            # workspace's: its files are not the job's changes.
                            if (
                                not excluded(rel, True)
                                and entry.stat(follow_symlinks=False).st_dev == device
                            ):
                                dirs.add(rel)
                                stack.append((rel + "/", entry.path, ignores))
                            continue
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if (
                        not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode))
                        or st.st_dev != device
                        or excluded(rel, False)
                        or not _storable(rel)
                    ):
                        continue
                    sig = _sig(st)
                    cached = cache.get(rel)
                    if cached is not None and cached.sig == sig and not cached.racy:
                        files[rel] = cached
                        continue
                    state = self._read(rel, entry.path, sig, started)
                    if state is not None:
                        files[rel] = state
                        self._remember(rel, state)
        if unlisted:
            # A directory that cannot be listed now (chmod 000, say) says nothing about its
            # files: take them as unchanged rather than report them all deleted.
            kept = tuple(unlisted)
            files.update((r, c) for r, c in cache.items() if r.startswith(kept) and r not in files)
        for rel in [r for r in cache if r not in files]:
            self._forget(rel)
        self._say_if_slow(len(files), clock, done=True)
        return files, dirs

    def _folder_ignore(self, path: str) -> Callable[[str, bool], bool] | None:
        """The test of the .gitignore in folder `path` (None without one), cached per version."""
        ignore_file = os.path.join(path, ".gitignore")
        try:
            st = os.stat(ignore_file, follow_symlinks=False)
        except OSError:
            self._folder_ignores.pop(path, None)
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        sig = _sig(st)
        known = self._folder_ignores.get(path)
        if known is not None and known[0] == sig:
            return known[1]
        try:
            with open(ignore_file, encoding="utf-8", errors="replace") as f:
                test = compile_gitignore(f.read().splitlines())
        except OSError:
            return None
        self._folder_ignores[path] = (sig, test)
        return test

    def _with_folder_ignores(self, ignores: tuple) -> Callable[[str, bool], bool]:
        """walk_excluded plus the .gitignore files of folders on the way (each relative to its
        own folder; a path any of them ignores is skipped)."""
        base = self.walk_excluded

        def excluded(rel: str, is_dir: bool) -> bool:
            if base(rel, is_dir):
                return True
            if not is_dir and is_secret_file(rel):
                return False
            return any(test(rel[len(prefix) :], is_dir) for prefix, test in ignores)

        return excluded

    def _say_if_slow(self, count: int, since: float, *, done: bool) -> None:
        """Tell the person once per run that snapshots are slow, and how to make them fast:
        first while the walk is still going, then (if it was) with the whole walk's figures."""
        if self.warn is None or self._warned_slow:
            return
        seconds = time.monotonic() - since
        if seconds < self.slow_after:
            return
        hint = (
            'exclude what the job does not change with `changes: {exclude: ["big/dir/**"]}`'
            " in the recipe, or pick a smaller --workspace"
        )
        if done:
            self._warned_slow = True
            self.warn(
                f"the workspace snapshot of {self.root} took {seconds:.1f} s"
                f" ({count:,} files); every command is bracketed by one: {hint}"
            )
        elif not self._said_scanning:
            self._said_scanning = True
            self.warn(
                f"snapshotting the workspace {self.root}: {count:,} entries in {seconds:.1f} s"
                " so far (every command's file changes are recorded)"
            )

    def _read(self, rel: str, path: str, sig: tuple, started_ns: int) -> FileState | None:
        if stat.S_ISLNK(sig[0]):
            try:
                target = os.readlink(path)
            except OSError:
                return None
            if not _storable(target):
                return FileState(
                    "link", sig, hashlib.sha256(os.fsencode(target)).hexdigest(), note="unreadable"
                )
            return FileState(
                "link", sig, hashlib.sha256(os.fsencode(target)).hexdigest(), target=target
            )
        if sig[1] > self.max_file_size:
            return FileState("file", sig, None, note="too_large")
        secret = is_secret_file(rel)
        try:
            fd = os.open(path, _READ_FLAGS)
        except FileNotFoundError:
            return None
        except OSError as error:
            if error.errno == errno.ELOOP:  # swapped for a symlink since the walk
                try:
                    return self._read(rel, path, _sig(os.lstat(path)), started_ns)
                except OSError:
                    return None
            return FileState("file", sig, None, note="unreadable")
        with os.fdopen(fd, "rb") as f:
            sig = _sig(os.fstat(fd))  # what was actually read; a later walk compares to this
            if sig[1] > self.max_file_size:
                return FileState("file", sig, None, note="too_large")
            try:
                data = f.read(self.max_file_size + 1)
            except OSError:
                return FileState("file", sig, None, note="unreadable")
        racy = sig[2] >= started_ns - RACY_WINDOW_NS
        digest = hashlib.sha256(data).hexdigest()
        if secret:  # its hash tells a change; its content never enters the log
            return FileState("file", sig, digest, note="secret", racy=racy)
        old = self._cache.get(rel)
        room = self.max_total - self.kept_bytes + (len(old.data) if old and old.data else 0)
        if len(data) > room:
            return FileState("file", sig, digest, note="over_budget", racy=racy)
        return FileState("file", sig, digest, data=data, racy=racy)

    def _remember(self, rel: str, state: FileState) -> None:
        self._forget(rel)
        self._cache[rel] = state
        self.kept_bytes += len(state.data or b"")

    def _forget(self, rel: str) -> None:
        old = self._cache.pop(rel, None)
        if old is not None and old.data:
            self.kept_bytes -= len(old.data)


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
    by_content: dict[tuple, list[str]] = {}
    by_inode: dict[tuple, str] = {}
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
