"""Attacks on the file tools (issue 11, items 2 and 8): a folder swapped for a symlink while
a write runs, hard links to outside files, and writes into .git and .agentctl."""

from __future__ import annotations

import ctypes
import os
import shutil
import tempfile
import threading
from pathlib import Path

import pytest

from agentctl.tools.base import ToolContext
from agentctl.tools.toolbox import build_toolbox

TOOLS = build_toolbox({}, ["read_file", "write_file", "edit_file"])
TRIES = 300

# (tool, args) that must be refused with `protected_path`.
PROTECTED_WRITES = [
    ("write_file", {"path": ".git/config", "content": "[core]\n\tfsmonitor = touch /tmp/pwned\n"}),
    ("write_file", {"path": ".git/hooks/pre-commit", "content": "#!/bin/sh\ntouch /tmp/pwned\n"}),
    ("write_file", {"path": ".git/info/attributes", "content": "* filter=evil\n"}),
    ("write_file", {"path": ".git/commondir", "content": "/tmp/evil\n"}),
    ("write_file", {"path": "sub/../.git/config", "content": "x"}),
    ("write_file", {"path": "vendor/lib/.git/config", "content": "x"}),
    ("write_file", {"path": ".agentctl/state", "content": "x"}),
    ("edit_file", {"path": ".git/config", "old": "[core]", "new": "[core]\n\tfsmonitor = x"}),
]


@pytest.fixture
def outside():
    base = "/var/tmp" if os.access("/var/tmp", os.W_OK) else None
    path = Path(tempfile.mkdtemp(prefix="agentctl-outside-", dir=base))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def run(tool: str, ws: Path, **args):
    return TOOLS[tool].run(args, ToolContext(workspace=ws))


@pytest.mark.parametrize(
    "tool,args", PROTECTED_WRITES, ids=[a["path"] for _, a in PROTECTED_WRITES]
)
def test_writes_into_git_and_agentctl_are_refused(workspace, tool, args):
    (workspace / ".git" / "hooks").mkdir(parents=True)
    (workspace / ".git" / "info").mkdir()
    (workspace / ".git" / "config").write_text("[core]\n")
    (workspace / "sub").mkdir()
    (workspace / "vendor" / "lib" / ".git").mkdir(parents=True)
    (workspace / ".agentctl").mkdir()
    before = {p: p.read_bytes() for p in workspace.rglob("*") if p.is_file()}
    result = run(tool, workspace, **args)
    assert not result.ok and result.error == "protected_path", result.output
    assert {p: p.read_bytes() for p in workspace.rglob("*") if p.is_file()} == before
    assert "fsmonitor" not in (workspace / ".git" / "config").read_text()


def _exchange():
    """renameat2(RENAME_EXCHANGE): swaps two names in one step, so `sub` flips between a
    real folder and a symlink with every call (as fast a racer as there is)."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return None
    at_fdcwd, rename_exchange = -100, 2

    def exchange(a: Path, b: Path) -> None:
        renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)

    return exchange


def _racer(ws: Path, stop: threading.Event) -> None:
    """Swaps ws/sub (a real folder) with ws/link (a symlink to outside), endlessly."""
    sub, link = ws / "sub", ws / "link"
    exchange = _exchange()
    while not stop.is_set():
        if exchange is not None:
            exchange(sub, link)
            continue
        try:
            os.replace(sub, ws / "parked")
            os.replace(link, sub)
            os.replace(sub, link)
            os.replace(ws / "parked", sub)
        except OSError:
            pass


@pytest.mark.slow
@pytest.mark.parametrize("tool", ["write_file", "read_file", "edit_file"])
def test_parent_swapped_for_a_symlink_never_reaches_outside(workspace, outside, tool):
    (workspace / "sub").mkdir()
    (workspace / "sub" / "f.txt").write_text("inside old\n")
    (outside / "f.txt").write_text("OUTSIDE-SECRET old\n")
    os.symlink(outside, workspace / "link")
    stop = threading.Event()
    thread = threading.Thread(target=_racer, args=(workspace, stop), daemon=True)
    thread.start()
    leaked = 0
    try:
        for i in range(TRIES):
            if tool == "write_file":
                run(tool, workspace, path="sub/f.txt", content=f"written {i}\n")
            elif tool == "edit_file":
                run(tool, workspace, path="sub/f.txt", old="old", new="new")
            else:
                result = run(tool, workspace, path="sub/f.txt")
                leaked += "OUTSIDE-SECRET" in result.output
    finally:
        stop.set()
        thread.join(5)
    assert (outside / "f.txt").read_text() == "OUTSIDE-SECRET old\n"
    assert sorted(os.listdir(outside)) == ["f.txt"]
    assert leaked == 0


def test_hard_links_are_refused(workspace, outside):
    secret = outside / "secret.txt"
    secret.write_text("OUTSIDE-SECRET\n")
    try:
        os.link(secret, workspace / "alias.txt")
    except OSError as exc:  # another file system, or protected_hardlinks for this user
        pytest.skip(f"cannot hard-link here: {exc}")
    read = run("read_file", workspace, path="alias.txt")
    assert not read.ok and read.error == "hard_link" and "OUTSIDE-SECRET" not in read.output
    write = run("write_file", workspace, path="alias.txt", content="pwned")
    assert not write.ok and write.error == "hard_link"
    edit = run("edit_file", workspace, path="alias.txt", old="OUTSIDE", new="pwned")
    assert not edit.ok and edit.error == "hard_link"
    assert secret.read_text() == "OUTSIDE-SECRET\n"


def test_ordinary_files_still_work(workspace):
    assert run("write_file", workspace, path="src/new/a.py", content="x = 1\n").ok
    assert run("edit_file", workspace, path="src/new/a.py", old="1", new="2").ok
    assert run("read_file", workspace, path="src/new/a.py").output == "x = 2\n"
    os.symlink("src", workspace / "alias")
    assert run("read_file", workspace, path="alias/new/a.py").output == "x = 2\n"
