"""What a workspace snapshot leaves out: a recipe's excludes (compile_excludes) and, by
default, caches and what the workspace's git ignores.

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

# Never part of a snapshot (its config and hooks are watched apart: scan.GIT_WATCHED).
ALWAYS_EXCLUDED = ".git"
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
    rules: list[tuple[re.Pattern[str], bool, bool, bool]] = []  # regex, negate, dir_only, anchored
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

    def join(parts: list[str]) -> re.Pattern[str] | None:
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
