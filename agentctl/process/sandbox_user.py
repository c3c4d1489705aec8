"""Who a confined command is on the host when agentctl runs as root (issue 21, case 6).

Inside bubblewrap's user namespace a command never has capabilities, but the kernel checks
file access against its host uid: a sandbox started by root is the owner of every root-owned
file, so a 0600 file of root's in `/srv` was readable. So as root:

- in a workspace owned by a user (the `sudo agentctl` case), the reaper drops to that user's
  uid and gid (no supplementary groups) before bubblewrap starts: the command has exactly the
  rights the user has, root-only files are out of reach, and the files it creates are the
  user's, as if they had run it;
- in a workspace owned by root (a CI container), the command must stay root's to write
  root's files, so what only root may read is hidden instead (`root_only_paths`): the
  top-level folders that are not the system's and hold neither the workspace nor a PATH
  entry (`/srv`, `/opt`, `/mnt`, `/media`, `/boot`...), and the root-only entries of `/etc`,
  `/var` and the top-level folders kept down to `SCAN_DEPTH` (found at most every
  `SCAN_TTL_S` seconds).

Unprivileged, agentctl's own uid is used and nothing here applies.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path

NOBODY = 65534
# Top-level folders a system needs (or that the sandbox replaces or hides anyway).
SYSTEM_TOP = frozenset(
    {"bin", "dev", "etc", "home", "lib", "lib32", "lib64", "libx32", "proc", "root", "run"}
    | {"sbin", "sys", "tmp", "usr", "var", "nix"}
)
SCANNED = ("/etc", "/var")
SCAN_DEPTH = 3
SCAN_LIMIT = 20000
_SKIP = ("/var/run", "/var/tmp", "/var/lock")

# How long a scan of /etc and /var is reused (it costs ~20-40 ms; bench/sandbox_argv.py).
SCAN_TTL_S = 30.0

_scan_lock = threading.Lock()
_scanned: tuple[tuple[str, ...], float, list[str]] | None = None


@dataclass(frozen=True)
class SandboxUser:
    uid: int  # the uid (and gid) a confined command has inside its user namespace
    gid: int
    drop: bool = False  # the reaper becomes uid/gid on the host before bwrap starts

    @property
    def host_ids(self) -> tuple[int, int] | None:
        """(uid, gid) the reaper switches to, or None to stay who agentctl is."""
        return (self.uid, self.gid) if self.drop else None


def _owner(path: Path | str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_uid, st.st_gid


def sandbox_user(workspace: Path | str | None) -> SandboxUser:
    """Who a confined command in `workspace` is (see the module docstring)."""
    uid, gid = os.getuid(), os.getgid()
    if uid != 0:
        return SandboxUser(uid, gid)
    owner = _owner(workspace) if workspace is not None else None
    if owner is not None and owner[0] != 0:
        return SandboxUser(owner[0], owner[1], drop=True)
    return SandboxUser(NOBODY, NOBODY)


def _root_only(st: os.stat_result) -> bool:
    """Owned by root, and closed to others (a file they cannot read, a folder they cannot
    enter): a sandbox with root's host uid but no capabilities would still open it."""
    if st.st_uid != 0:
        return False
    if stat.S_ISDIR(st.st_mode):
        return not st.st_mode & stat.S_IXOTH
    return stat.S_ISREG(st.st_mode) and not st.st_mode & stat.S_IROTH


def _scan_system(roots: tuple[str, ...]) -> list[str]:
    """Root-only entries of `roots` down to SCAN_DEPTH (a root-only folder is not entered:
    it is hidden whole)."""
    found: list[str] = []
    stack = [(root, 1) for root in roots]
    seen = 0
    while stack and seen < SCAN_LIMIT:
        folder, depth = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)
        except OSError:
            continue
        for entry in entries:
            seen += 1
            if entry.path in _SKIP:
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if _root_only(st):
                found.append(entry.path)
            elif stat.S_ISDIR(st.st_mode) and depth < SCAN_DEPTH:
                stack.append((entry.path, depth + 1))
    return sorted(found)


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def root_only_paths(workspace: str, search_path: str = "") -> list[str]:
    """What a sandbox started as root in a root-owned `workspace` must hide because only root
    may read it (see the module docstring); [] in every other case. `search_path` is the
    command's PATH: the folders it names stay."""
    if os.getuid() != 0 or sandbox_user(workspace).drop:
        return []
    keep = [workspace, *(p for p in search_path.split(":") if p.startswith("/"))]
    keep = [os.path.realpath(p) for p in keep]
    hidden: list[str] = []
    kept: list[str] = []
    try:
        names = sorted(os.listdir("/"))
    except OSError:
        names = []
    for name in names:
        path = "/" + name
        if name in SYSTEM_TOP or os.path.islink(path) or not os.path.isdir(path):
            continue
        (kept if any(_within(k, path) for k in keep) else hidden).append(path)
    global _scanned
    roots = (*SCANNED, *kept)
    with _scan_lock:
        now = time.monotonic()
        if _scanned is None or _scanned[0] != roots or now - _scanned[1] > SCAN_TTL_S:
            _scanned = (roots, now, _scan_system(roots))
        system = _scanned[2]
    kept = [p for p in system if not any(_within(k, p) for k in keep)]
    return hidden + [p for p in kept if os.path.lexists(p)]


def reachable(path: str, as_user: SandboxUser | None = None) -> bool:
    """Whether a process of ours without capabilities could reach `path`: search permission
    on every folder above it by its owner, group and other bits alone. Inside the sandbox root
    has no capabilities; bubblewrap fails on a path it cannot reach, and a path the command
    cannot reach needs no guard. `as_user`: the user bubblewrap runs as, when root drops to
    a workspace owner's uid first."""
    uid, groups = os.getuid(), {os.getgid(), *os.getgroups()}
    if as_user is not None and as_user.drop:
        uid, groups = as_user.uid, {as_user.gid}
    folder = os.path.dirname(path)
    while True:
        try:
            st = os.stat(folder)
        except OSError:
            return False
        if st.st_uid == uid:
            bit = stat.S_IXUSR
        elif st.st_gid in groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return False
        parent = os.path.dirname(folder)
        if parent == folder:
            return True
        folder = parent


def reachable_only(paths: list[str], user: SandboxUser) -> list[str]:
    """`paths` that `user` can reach, when the reaper drops to them (else all of them)."""
    return [p for p in paths if reachable(p, user)] if user.drop else paths
