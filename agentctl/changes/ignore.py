"""What a workspace snapshot leaves out by default: caches and what the workspace's git ignores.

A command's byproducts that nobody edits (`__pycache__/*.pyc`, `.pytest_cache`, a build tree
the project's `.gitignore` names) would otherwise fill `agentctl diff` and every rollback. They
are skipped by whole-tree snapshots only: a file an agent writes by name with a file tool is
still recorded, and `changes: {gitignore: false}` in a recipe turns the `.gitignore` part off.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path

from agentctl.policy.globs import glob_pattern

# Tool caches: rebuilt on demand, never worth a diff line or a rollback.
CACHE_EXCLUDES = (
    "__pycache__/",
    ".pytest_cache/",
    ".mypy_cache/",
    ".ruff_cache/",
    ".hypothesis/",
    ".tox/",
    ".nox/",
    "**/node_modules/.cache/",
    ".parcel-cache/",
    "**/.next/cache/",
    ".gradle/",
    ".sass-cache/",
)


def read_ignore_files(root: Path) -> list[str]:
    """The lines of the workspace's top-level `.gitignore` and `.git/info/exclude` (a folder's
    own `.gitignore` is read by the walk that enters it)."""
    lines: list[str] = []
    for path in (root / ".git" / "info" / "exclude", root / ".gitignore"):
        try:
            if path.is_file() and not path.is_symlink():
                lines += path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
    return lines


def compile_gitignore(lines: Iterable[str]) -> Callable[[str, bool], bool]:
    """A test `(relative path, is_dir) -> ignored` with git's rules for one top-level file:
    the last matching line wins, `!` re-includes, a trailing `/` matches only directories, a
    pattern with a `/` before its end is anchored at the root, one without matches any name."""
    rules: list[tuple[re.Pattern, bool, bool, bool]] = []  # regex, negate, dir_only, anchored
    for raw in lines:
        line = raw.rstrip("\n")
        if not line.strip() or line.startswith("#"):
            continue
        line = line.rstrip() if not line.endswith("\\ ") else line
        negate = line.startswith("!")
        if negate or line.startswith(("\\!", "\\#")):
            line = line[1:]
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        anchored = "/" in line
        line = line.lstrip("/")
        rules.append((re.compile(glob_pattern(line) + r"\Z"), negate, dir_only, anchored))
    if not rules:
        return lambda rel, is_dir: False

    def ignored(rel: str, is_dir: bool) -> bool:
        name = rel.rsplit("/", 1)[-1]
        verdict = False
        for regex, negate, dir_only, anchored in rules:
            if dir_only and not is_dir:
                continue
            if regex.match(rel if anchored else name):
                verdict = not negate
        return verdict

    return ignored


def default_skips(root: Path, *, gitignore: bool = True) -> Callable[[str, bool], bool]:
    """What whole-tree snapshots of `root` skip: the caches above and, if `gitignore`, what the
    workspace's git ignores."""
    return compile_gitignore(list(CACHE_EXCLUDES) + (read_ignore_files(root) if gitignore else []))
