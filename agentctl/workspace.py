"""The workspace boundary: where a path given by a model lands, refused outside the workspace.

The file tools resolve every path through `resolve_in_workspace`, and change recording uses
the same function, so both agree on which file an action names.
"""

from __future__ import annotations

import functools
import os
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
    if not candidate.is_absolute():
        candidate = root / candidate
    resolved = candidate.resolve()
    if resolved != root and root not in resolved.parents:
        raise ToolError(
            f"path {path!r} is outside the workspace (paths are relative to {root})",
            "outside_workspace",
        )
    return resolved
