"""The workspace boundary (agentctl.workspace): a model's path resolved, and what that costs.

`realpath_below` resolves a relative path from the already resolved workspace: the same path
as `os.path.realpath(workspace / path)`, without an lstat for each folder above the workspace
on every action (issue 14). The file tools' `resolve_in_workspace` uses it.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

from test_policy_touches import WORDS, build_tree, count_lstat

from agentctl.workspace import real_root, realpath_below, resolve_in_workspace


def test_realpath_below_is_realpath_or_says_it_cannot_tell(tmp_path: Path) -> None:
    root, _ = build_tree(tmp_path)
    words = ["/".join(p) for n in (1, 2) for p in itertools.product(WORDS, repeat=n) if p[0]]
    loops = 0
    for word in words:
        got = realpath_below(root, word)
        want = os.path.realpath(os.path.join(root, word))
        if got is None:  # a loop: os.path.realpath answers (Python versions differ there)
            loops += 1
            assert "loop" in word or "self" in word, word
        else:
            assert got == want, word
    assert 0 < loops < len(words) / 2


def test_resolve_in_workspace_is_unchanged_and_looks_only_below_the_workspace(
    tmp_path: Path, monkeypatch
) -> None:
    workspace = tmp_path / "a" / "b" / "c" / "ws"
    (workspace / "src").mkdir(parents=True)
    (workspace / "src" / "main.py").write_text("x")
    (workspace / "up").symlink_to("..")
    (workspace / "loop").symlink_to("loop")
    for path in ("src/main.py", "src/../src/./main.py", "missing/x", "up/ws/src", "loop/x"):
        try:
            want: object = (real_root(str(workspace)) / path).resolve()
        except RuntimeError as error:  # Path.resolve on a loop (Python 3.11, 3.12)
            want = type(error)
        try:
            got: object = resolve_in_workspace(workspace, path)
        except RuntimeError as error:
            got = type(error)
        assert got == want, path
    calls = count_lstat(monkeypatch)
    resolve_in_workspace(workspace, "src/main.py")
    assert len(calls) == 2, calls  # src and main.py: nothing above the workspace
