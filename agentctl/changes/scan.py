"""Walking and snapshotting the workspace: what each file and symlink is at one moment.

`WorkspaceScanner` owns the walk (one `scandir` pass with an `lstat` per entry, never leaving
the workspace's file system, skipping `changes.exclude`, caches and git-ignored paths), reading
one known file (symlink-safe), and the cache of file contents keyed by path and stat signature
that keeps a no-change walk down to the walk itself: a walk re-reads only files whose signature
changed (or that were modified too recently to trust their timestamp). `FileState` is one
entry (`agentctl.changes.ignore` holds the `changes.exclude` test). Comparing two snapshots is
`agentctl.changes.record`; this module never imports it.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import os
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentctl.changes.ignore import (
    ALWAYS_EXCLUDED,
    compile_excludes,
    compile_gitignore,
    default_skips,
)
from agentctl.policy.protected import protected_reason

DEFAULT_MAX_FILE_SIZE = 1_000_000
DEFAULT_MAX_TOTAL = 256 * 1024 * 1024
# Bytes sniffed for a NUL to call content binary (git's heuristic; tools/files.py uses it too).
BINARY_SNIFF = 8192
# Kernel file timestamps come from a coarse clock (1-10 ms ticks, sometimes lagging). A file
# read within this window of its last write could be written again in the same tick without
# its size or mtime showing it ("racy git"), so such entries are re-read at the next walk.
RACY_WINDOW_NS = 100_000_000
# Inside a `.git` folder, what git runs: read by every walk though the folder is not walked.
GIT_WATCHED = ("config", "hooks/")
# O_NONBLOCK: a file that is not what its type says (a device node swapped in after the walk
# looked) must not block the snapshot; regular files ignore the flag.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
# A snapshot slower than this says so (files counted, time taken) once per run.
SLOW_SNAPSHOT_SECONDS = 2.0
# How many entries a walk looks at between two looks at the cancel flag.
CANCEL_CHECK_EVERY = 512


# A file's stat signature: (mode, size, mtime_ns, ctime_ns, inode, device). An equal one on
# the next walk means the content was not read again.
Sig = tuple[int, int, int, int, int, int]
# A compiled .gitignore: (path relative to its folder, is_dir) -> ignored.
IgnoreTest = Callable[[str, bool], bool]
# The .gitignore tests of the folders above one being walked (below the root, whose file is
# part of walk_excluded): ((folder prefix, test), ...).
FolderIgnores = tuple[tuple[str, IgnoreTest], ...]


class FileState:
    """One file or symlink as seen at one moment; `data` is None when its content was not kept
    (`note` says why: too_large, over_budget, unreadable)."""

    __slots__ = ("data", "kind", "note", "racy", "sha256", "sig", "target")

    def __init__(
        self,
        kind: str,
        sig: Sig,
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


def is_watched(rel: str, is_dir: bool) -> bool:
    """Walked even where git ignores it: a change to a secret file (.env*) must show, as a
    hash, and one to a protected name (.envrc, .vscode/, hook folders) must be decided."""
    return (not is_dir and is_secret_file(rel)) or protected_reason(rel) is not None


def _sig(st: os.stat_result) -> Sig:
    return (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


@dataclass
class _Walk:
    """What one WorkspaceScanner.scan() gathers as it goes."""

    device: int  # the workspace's file system: the walk stays on it
    cancel: threading.Event | None
    started: int = field(default_factory=time.time_ns)
    clock: float = field(default_factory=time.monotonic)
    files: dict[str, FileState] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=set)
    stack: list[tuple[str, str, FolderIgnores]] = field(default_factory=list)  # folders to walk
    unlisted: list[str] = field(default_factory=list)  # folders that could not be listed
    markers: dict[str, tuple[int, int]] = field(default_factory=dict)
    git_files: dict[str, FileState] = field(default_factory=dict)
    seen: int = 0


class SnapshotCancelled(Exception):
    """The job was cancelled while a snapshot walked the workspace."""


class WorkspaceScanner:
    """Snapshots of one workspace, with the content cache that makes them cheap.

    Snapshots hold regular files and symlinks only, and never leave the workspace's file
    system: a mount below it (`/proc`, `/sys`, `/dev`, another disk) is not walked, so a
    special file can neither block a snapshot nor fill its memory. `cancel`, when set, stops
    a cancellable walk; `warn` hears once per run about a slow snapshot. Not thread-safe:
    the caller serialises walks.
    """

    def __init__(
        self,
        root: Path,
        *,
        exclude: Iterable[str] = (),
        max_file_size: int = DEFAULT_MAX_FILE_SIZE,
        max_total: int = DEFAULT_MAX_TOTAL,
        gitignore: bool = True,
        cancel: threading.Event | None = None,
        warn: Callable[[str], None] | None = None,
        slow_after: float = SLOW_SNAPSHOT_SECONDS,
    ):
        self.root = root
        self.max_file_size = max_file_size
        self.max_total = max_total
        self.excluded = compile_excludes(exclude)
        user_excluded, skipped = self.excluded, default_skips(self.root, gitignore=gitignore)
        # Whole-tree walks also skip caches and git-ignored paths; file tools do not.
        # A .env* file is watched even when git ignores it (it usually does): a change to it
        # must show, as a hash.
        self.walk_excluded: IgnoreTest = lambda rel, is_dir: (
            user_excluded(rel, is_dir) or (skipped(rel, is_dir) and not is_watched(rel, is_dir))
        )
        self.gitignore = gitignore
        # A folder's own .gitignore, compiled once per version of the file: path -> (sig, test).
        self._folder_ignores: dict[str, tuple[Sig, IgnoreTest]] = {}
        self.cancel = cancel
        self.warn = warn
        self.slow_after = slow_after
        self._warned_slow = self._said_scanning = False
        self._cache: dict[str, FileState] = {}
        self.kept_bytes = 0
        # Each `.git` (folder, file or link) the last walk passed, never entered:
        # path -> (file type, inode). One appearing or replaced is a protected write.
        self.markers: dict[str, tuple[int, int]] = {}
        # What git runs from each `.git` folder the walk passed: its config and hooks
        # (`GIT_WATCHED`), read like workspace files; a change to one is a protected write.
        self.git_files: dict[str, FileState] = {}

    def read_one(self, rel: str) -> FileState | None:
        """The file or symlink at `rel` now (None if missing or of another kind)."""
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

    def scan(self, *, cancellable: bool = False) -> tuple[dict[str, FileState], set[str]]:
        """One walk. `cancellable` walks (before an action) stop at a cancel; the walk after
        an action always finishes, since what the action changed must be recorded."""
        try:
            device = os.stat(self.root).st_dev
        except OSError:
            return {}, set()
        walk = _Walk(device, self.cancel if cancellable else None)
        walk.stack.append(("", str(self.root), ()))
        while walk.stack:
            prefix, path, ignores = walk.stack.pop()
            own = self._folder_ignore(path) if prefix and self.gitignore else None
            if own is not None:
                ignores = (*ignores, (prefix, own))
            try:
                entries = os.scandir(path)
            except OSError:
                walk.unlisted.append(prefix)
                continue
            with entries:
                self._walk_folder(entries, prefix, ignores, walk)
        files, cache = walk.files, self._cache
        if walk.unlisted:
            # A directory that cannot be listed now (chmod 000, say) says nothing about its
            # files: take them as unchanged rather than report them all deleted.
            kept = tuple(walk.unlisted)
            files.update((r, c) for r, c in cache.items() if r.startswith(kept) and r not in files)
        for rel in [r for r in cache if r not in files]:
            self._forget(rel)
        self.markers = walk.markers
        self.git_files = walk.git_files
        self._say_if_slow(len(files), walk.clock, done=True)
        return files, walk.dirs

    def _walk_folder(
        self, entries: Iterator[os.DirEntry[str]], prefix: str, ignores: FolderIgnores, walk: _Walk
    ) -> None:
        """One folder's entries: files into walk.files (unchanged ones from the cache), folders
        onto walk.stack."""
        excluded = self._with_folder_ignores(ignores) if ignores else self.walk_excluded
        files, cache, started, device = walk.files, self._cache, walk.started, walk.device
        seen = walk.seen
        for entry in entries:
            seen += 1
            if seen % CANCEL_CHECK_EVERY == 0:
                if walk.cancel is not None and walk.cancel.is_set():
                    raise SnapshotCancelled()
                self._say_if_slow(seen, walk.clock, done=False)
            rel = prefix + entry.name
            try:
                if entry.name == ALWAYS_EXCLUDED:
                    st = entry.stat(follow_symlinks=False)
                    walk.markers[rel] = (stat.S_IFMT(st.st_mode), st.st_ino)
                    if stat.S_ISDIR(st.st_mode):
                        self._read_git_files(rel, entry.path, walk.git_files, started)
                if entry.is_dir(follow_symlinks=False):
                    # Another file system (/proc, /sys, /dev, a mount) is not the
                    # workspace's: its files are not the job's changes.
                    if (
                        not excluded(rel, True)
                        and entry.stat(follow_symlinks=False).st_dev == device
                    ):
                        walk.dirs.add(rel)
                        walk.stack.append((rel + "/", entry.path, ignores))
                    continue
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if (
                not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode))
                or st.st_dev != device
                or excluded(rel, False)
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
                self.remember(rel, state)
        walk.seen = seen

    def _read_git_files(
        self, rel: str, path: str, into: dict[str, FileState], started_ns: int
    ) -> None:
        """Add a `.git` folder's config and hooks to `into` (unchanged ones from the last walk)."""
        for name in GIT_WATCHED:
            folder = os.path.join(path, name) if name.endswith("/") else path
            try:
                names = os.listdir(folder) if name.endswith("/") else [name]
            except OSError:
                continue
            for leaf in names:
                full = os.path.join(folder, leaf)
                key = f"{rel}/{name}{leaf}" if name.endswith("/") else f"{rel}/{leaf}"
                try:
                    sig = _sig(os.lstat(full))
                except OSError:
                    continue
                if not (stat.S_ISREG(sig[0]) or stat.S_ISLNK(sig[0])):
                    continue
                known = self.git_files.get(key)
                if known is not None and known.sig == sig and not known.racy:
                    into[key] = known
                elif (state := self._read(key, full, sig, started_ns)) is not None:
                    into[key] = state

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

    def _with_folder_ignores(self, ignores: FolderIgnores) -> IgnoreTest:
        """walk_excluded plus the .gitignore files of folders on the way (each relative to its
        own folder; a path any of them ignores is skipped)."""
        base = self.walk_excluded

        def excluded(rel: str, is_dir: bool) -> bool:
            if base(rel, is_dir):
                return True
            if is_watched(rel, is_dir):
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

    def _read(self, rel: str, path: str, sig: Sig, started_ns: int) -> FileState | None:
        if stat.S_ISLNK(sig[0]):
            try:
                target = os.readlink(path)
            except OSError:
                return None
            # A name that is not UTF-8 holds lone surrogates (surrogateescape): the store
            # keeps them (store/codec.py), and os.fsencode gives the bytes back.
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

    def remember(self, rel: str, state: FileState) -> None:
        """Keep `state` as what `rel` holds now (a file tool's write, read after it)."""
        self._forget(rel)
        self._cache[rel] = state
        self.kept_bytes += len(state.data or b"")

    def _forget(self, rel: str) -> None:
        old = self._cache.pop(rel, None)
        if old is not None and old.data:
            self.kept_bytes -= len(old.data)
