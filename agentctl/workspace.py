"""The workspace boundary: where a path given by a model lands, refused outside the workspace.

The file tools resolve every path through `resolve_in_workspace`, and change recording uses
the same function, so both agree on which file an action names. `realpath_below` resolves a
relative path from the resolved workspace (the policy resolves an action's paths with it too).
"""

from __future__ import annotations

import functools
import os
import stat
from pathlib import Path

from agentctl.errors import ToolError


@functools.lru_cache(maxsize=64)
def real_root(workspace: str) -> Path:
    """The workspace with its symlinks resolved, once per process: every action resolved it
    again, several times (a few lstat calls each). Keeping the first answer is the stricter
    choice: if the folder were swapped for a symlink later, paths through it fall outside."""
    return Path(workspace).resolve()


def resolve_in_workspace(workspace: Path, path: str) -> Path:
    """Return `path` fully resolved; raise ToolError unless it is inside the workspace."""
    if "\0" in path:
        raise ToolError("path contains a NUL byte", "bad_path")
    root = real_root(os.fspath(workspace))
    candidate = Path(path)
    if candidate.is_absolute():
        resolved = candidate.resolve()
    else:
        # realpath_below, not (root / candidate).resolve(): the same path, without an lstat
        # for every folder above the workspace on every action (issue 14).
        below = realpath_below(str(root), os.fspath(candidate))
        resolved = Path(below) if below is not None else (root / candidate).resolve()
    if resolved != root and root not in resolved.parents:
        raise ToolError(
            f"path {path!r} is outside the workspace (paths are relative to {root})",
            "outside_workspace",
        )
    return resolved


def realpath_below(root: str, rel: str) -> str | None:
    """`os.path.realpath(os.path.join(root, rel))` for a resolved `root` (no symlinks in it)
    and a relative `rel`, looking only at `rel`'s own names (one lstat each) instead of at
    every folder of `root` again. None for a symlink loop or a link that cannot be read:
    Python versions resolve those differently, so the caller asks `os.path.realpath`."""
    path, ok = _join_real(root, rel, {})
    return os.path.abspath(path) if ok else None


def _join_real(path: str, rest: str, seen: dict[str, str]) -> tuple[str, bool]:
    """`rest` resolved from the resolved folder `path`, the way `os.path.realpath` walks
    `path/rest`: each name gets one lstat, a symlink is followed where it is met and `..` is
    taken after it. Since `path` holds no symlinks, its folders need no lstat of their own.
    Returns the path and True, or False for a symlink loop or a link that cannot be read."""
    if rest.startswith("/"):
        rest, path = rest[1:], "/"
    while rest:
        name, _, rest = rest.partition("/")
        if not name or name == ".":
            continue
        if name == "..":
            path = os.path.dirname(path)
            continue
        newpath = os.path.join(path, name)
        try:
            is_link = stat.S_ISLNK(os.lstat(newpath).st_mode)
        except OSError:
            is_link = False
        if not is_link:
            path = newpath
        elif newpath in seen:
            if not seen[newpath]:
                return path, False
            path = seen[newpath]
        else:
            seen[newpath] = ""  # being resolved: meeting it again is a loop
            try:
                target = os.readlink(newpath)
            except OSError:
                return path, False
            path, ok = _join_real(path, target, seen)
            if not ok:
                return path, False
            seen[newpath] = path
    return path, True
