"""Protected names: files and folders whose content something runs later, outside any sandbox.

A `.git` (file or folder) anywhere makes its folder a repository, whose config and hooks the
user's next `git status` there runs; direnv runs `.envrc`; editors run `.vscode/` tasks;
`.husky/`, `.githooks/` and whatever `core.hooksPath` names hold git hooks; `.agentctl/`
is agentctl's own. Creating, changing, moving or copying any of them is a protected write:
asked under every policy (a policy may deny it), whether predicted from a command's words
(`agentctl.policy.touches`) or observed after an action ran (`agentctl.policy.effects`).
"""

from __future__ import annotations

import os
import re

GIT_NAME = ".git"
PROTECTED_FILES = frozenset({".envrc"})
PROTECTED_FOLDERS = frozenset({".vscode", ".husky", ".githooks", ".agentctl"})
_WHY = {
    GIT_NAME: "a .git makes its folder a repository whose config and hooks git runs",
    ".envrc": "direnv runs .envrc when someone enters the folder",
    ".vscode": "the editor runs .vscode/ tasks and settings",
    ".husky": "husky's git hooks run on the next commit",
    ".githooks": "git hooks run on the next commit",
    ".agentctl": "agentctl's own state",
}
_HOOKS_PATH = re.compile(r"^\s*hookspath\s*=\s*(.+?)\s*$", re.IGNORECASE)
# The workspace's core.hooksPath, read once per version of .git/config: root -> (sig, paths).
_hooks_cache: dict[str, tuple[tuple[int, int], tuple[str, ...]]] = {}


def is_protected_name(name: str, is_dir: bool) -> bool:
    """Whether a walk must look at this entry even where git ignores it."""
    return name in PROTECTED_FILES or (is_dir and name in PROTECTED_FOLDERS)


def protected_reason(rel: str, hooks: tuple[str, ...] = ()) -> str | None:
    """Why writing the workspace path `rel` (posix, relative) is a protected write, or None.

    `.git` counts as the name itself (inside an existing `.git`, `agentctl.policy.touches`'s
    git-internals rule decides); the folders count with everything below them."""
    parts = rel.split("/")
    name = parts[-1]
    if name == GIT_NAME or name in PROTECTED_FILES:
        return f"{rel}: {_WHY[name]}"
    for part in parts:
        if part == GIT_NAME:
            return None
        if part in PROTECTED_FOLDERS:
            return f"{rel}: {_WHY[part]}"
    for folder in hooks:
        if rel == folder or rel.startswith(folder + "/"):
            return f"{rel}: core.hooksPath names {folder}, whose hooks git runs"
    return None


def hooks_paths(root: str) -> tuple[str, ...]:
    """The workspace-relative folders the repository's `core.hooksPath` names (none when it
    has no such setting, or names a folder outside the workspace)."""
    config = os.path.join(root, GIT_NAME, "config")
    try:
        st = os.stat(config)
    except OSError:
        return ()
    sig = (st.st_mtime_ns, st.st_size)
    known = _hooks_cache.get(root)
    if known is not None and known[0] == sig:
        return known[1]
    found: list[str] = []
    try:
        with open(config, encoding="utf-8", errors="replace") as fh:
            lines = fh.read(1_000_000).splitlines()
    except OSError:
        lines = []
    for line in lines:
        match = _HOOKS_PATH.match(line)
        if match is None:
            continue
        value = match.group(1).strip('"')
        absolute = os.path.normpath(os.path.join(root, os.path.expanduser(value)))
        if absolute.startswith(root.rstrip(os.sep) + os.sep):
            found.append(os.path.relpath(absolute, root).replace(os.sep, "/"))
    _hooks_cache[root] = (sig, tuple(found))
    return tuple(found)


__all__ = ["hooks_paths", "is_protected_name", "protected_reason"]
