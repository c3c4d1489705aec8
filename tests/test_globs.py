"""The one path-glob dialect, shared by policy `paths:` and `changes.exclude`."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentctl.changes.ignore import compile_excludes
from agentctl.changes.record import ChangeRecorder
from agentctl.policy.globs import glob_regex

CASES = [
    # pattern, path, matches
    ("*.py", "a.py", True),
    ("*.py", "src/a.py", False),  # `*` stays within one name
    ("src/*.py", "src/a.py", True),
    ("?.txt", "a.txt", True),
    ("?.txt", "ab.txt", False),
    ("**/*.py", "a.py", True),  # `**/` is also no directory at all
    ("**/*.py", "x/y/z.py", True),
    ("build/**", "build", True),  # a trailing `/**`: the directory itself too
    ("build/**", "build/x/y.o", True),
    ("build/**", "builder", False),
    ("a**b", "a/x/b", True),
    ("[ab].txt", "a.txt", True),
    ("[!ab].txt", "a.txt", False),
    ("[^ab].txt", "c.txt", True),
    ("[!ab].txt", "/.txt", True),  # a class is a character class, as in fnmatch
    ("a+b(c).txt", "a+b(c).txt", True),  # everything else is literal
    ("a.txt", "aXtxt", False),
    ("a\\*b", "a*b", True),  # a backslash makes the next character literal (.gitignore)
    ("a\\*b", "axb", False),
]


@pytest.mark.parametrize(("pattern", "path", "matches"), CASES)
def test_the_dialect(pattern, path, matches):
    assert bool(glob_regex(pattern).fullmatch(path)) is matches


def test_case_folding_is_asked_for():
    assert glob_regex("**/.env", ignore_case=True).fullmatch("x/.ENV")
    assert not glob_regex("**/.env").fullmatch("x/.ENV")


def test_change_excludes_speak_the_same_dialect():
    excluded = compile_excludes(["build/**", "*.log", "/top.txt", "cache/"])
    assert excluded("build", True) and excluded("build/x/y.o", False)
    assert not excluded("builder", False)
    assert excluded("deep/x.log", False)  # a name pattern matches at any depth
    assert excluded("top.txt", False) and not excluded("sub/top.txt", False)
    assert excluded("a/cache", True) and not excluded("a/cache", False)


def test_an_excluded_directory_is_not_recorded_as_created(tmp_path: Path):
    rec = ChangeRecorder(tmp_path, exclude=["build/**"])
    token = rec.before(None, {})
    (tmp_path / "build" / "x").mkdir(parents=True)
    (tmp_path / "build" / "x" / "out.o").write_text("o")
    (tmp_path / "kept.txt").write_text("k")
    assert [c["path"] for c in rec.after(token)] == ["kept.txt"]
