"""Workspace snapshots stay on the workspace's file system, stop at a cancel, say when they are
slow, and skip caches and git-ignored paths (agentctl.changes.scan and .ignore)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from test_changes import record_shell, record_tool

from agentctl.changes.ignore import compile_gitignore
from agentctl.changes.record import ChangeRecorder
from agentctl.changes.scan import SnapshotCancelled
from agentctl.engine.admission import refuse_broad_workspace
from agentctl.errors import UsageError

SNAPSHOT_IN_A_MOUNT_NAMESPACE = """
import json, sys
from pathlib import Path
from agentctl.changes.record import ChangeRecorder
rec = ChangeRecorder(Path(sys.argv[1]))
token = rec.before(None, {})
print(json.dumps(sorted(token.files)))
"""


@pytest.mark.slow
def test_a_snapshot_never_walks_into_another_file_system(workspace: Path) -> None:
    # `--workspace /` walked into /proc and blocked on /proc/kmsg: a mount below the workspace
    # is another file system, and its files are not the job's.
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        pytest.skip("needs unshare and mount to make a mount below the workspace")
    (workspace / "mine.txt").write_text("x")
    (workspace / "mnt").mkdir()
    script = (
        'mount -t tmpfs none "$1/mnt" && echo y > "$1/mnt/theirs.txt"'
        ' && mkfifo "$1/pipe" && exec "$2" -c "$3" "$1"'
    )
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script, "sh", str(workspace), sys.executable]
        + [SNAPSHOT_IN_A_MOUNT_NAMESPACE],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0 and "mount" in done.stderr:
        pytest.skip(f"no mount namespace here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == '["mine.txt"]'  # no mnt/theirs.txt, no FIFO


def test_a_cancel_stops_a_snapshot_before_an_action(workspace: Path) -> None:
    for i in range(2000):
        (workspace / f"f{i}").write_text("x")
    cancel = threading.Event()
    rec = ChangeRecorder(workspace, cancel=cancel)
    rec.before(None, {})  # not cancelled: walks
    cancel.set()
    with pytest.raises(SnapshotCancelled):
        rec.before(None, {})


def test_a_slow_snapshot_says_how_many_files_and_how_long(workspace: Path) -> None:
    for i in range(1100):
        (workspace / f"f{i}").write_text("x")
    said: list[str] = []
    rec = ChangeRecorder(workspace, warn=said.append, slow_after=0.0)
    rec.before(None, {})
    rec.before(None, {})
    assert len(said) == 2  # once while walking, once with the whole walk's figures; not again
    assert "1,100 files" in said[1] and " s " in said[1] and "changes: {exclude:" in said[1]


def test_a_fast_snapshot_says_nothing(workspace: Path) -> None:
    said: list[str] = []
    rec = ChangeRecorder(workspace, warn=said.append)
    record_shell(rec, workspace, "echo x > a")
    assert said == []


@pytest.mark.parametrize("folder", ["/", "/root", "/home/someone"])
def test_root_and_home_folders_are_refused_as_workspaces(folder: str) -> None:
    with pytest.raises(UsageError) as caught:
        refuse_broad_workspace(Path(folder))
    assert caught.value.exit_code == 2 and "--force-workspace" in caught.value.hint


def test_a_project_folder_is_a_fine_workspace(workspace: Path) -> None:
    refuse_broad_workspace(workspace)


def test_caches_are_not_recorded(workspace: Path) -> None:
    rec = ChangeRecorder(workspace)
    changes = record_shell(
        rec,
        workspace,
        "mkdir -p __pycache__ pkg/__pycache__ .pytest_cache node_modules/.cache/x .mypy_cache;"
        " echo x > __pycache__/a.cpython-312.pyc; echo x > pkg/__pycache__/b.pyc;"
        " echo x > .pytest_cache/v; echo x > node_modules/.cache/x/y; echo x > .mypy_cache/z;"
        " echo x > node_modules/kept.js; echo x > app.py",
    )
    assert sorted(c["path"] for c in changes) == ["app.py", "node_modules/kept.js"]


def test_gitignored_paths_are_not_recorded_unless_turned_off(workspace: Path) -> None:
    (workspace / ".gitignore").write_text("# build output\n*.o\n/dist/\nlogs/\n!logs/keep.log\n")
    command = (
        "mkdir -p dist sub/dist logs; echo x > a.o; echo x > dist/app; echo x > sub/dist/c;"
        " echo x > logs/x.log; echo x > main.c"
    )
    rec = ChangeRecorder(workspace)
    changes = record_shell(rec, workspace, command)
    # /dist/ is anchored at the root; sub/dist is not ignored.
    assert sorted(c["path"] for c in changes) == ["main.c", "sub/dist/c"]
    # A file an agent writes by name is recorded even when ignored.
    assert [c["path"] for c in record_tool(rec, workspace, "write_file", path="b.o", content="x")]

    other = workspace.parent / "plain"
    shutil.copytree(workspace, other)
    for name in ("a.o", "dist/app", "sub/dist/c", "logs/x.log", "main.c", "b.o"):
        (other / name).unlink()
    rec = ChangeRecorder(other, gitignore=False)
    changes = record_shell(rec, other, command)
    assert "a.o" in [c["path"] for c in changes]


def test_gitignore_rules_last_match_wins() -> None:
    ignored = compile_gitignore(["*.log", "!keep.log", "build/", "docs/**/*.tmp", r"\#hash"])
    assert ignored("x/a.log", False) and not ignored("keep.log", False)
    assert ignored("build", True) and not ignored("build", False)
    assert ignored("docs/a/b/c.tmp", False) and not ignored("c.tmp", False)
    assert ignored("#hash", False)


def test_a_folders_own_gitignore_applies_below_it(workspace: Path) -> None:
    (workspace / "sub" / "x").mkdir(parents=True)
    (workspace / "sub" / ".gitignore").write_text("*.tmp\n/out/\n")
    rec = ChangeRecorder(workspace)
    changes = record_shell(
        rec,
        workspace,
        "echo x > b.tmp; echo x > sub/a.tmp; echo x > sub/x/c.tmp;"
        " mkdir -p sub/out sub/x/out; echo x > sub/out/o; echo x > sub/x/out/o",
    )
    assert sorted(c["path"] for c in changes) == ["b.tmp", "sub/x/out/o"]
    # A changed .gitignore counts from the next walk on.
    (workspace / "sub" / ".gitignore").write_text("/out/\n")
    changes = record_shell(rec, workspace, "echo y > sub/d.tmp")
    assert [c["path"] for c in changes] == ["sub/d.tmp"]


def test_a_git_ignored_env_file_is_still_watched_as_a_hash(workspace: Path) -> None:
    (workspace / ".gitignore").write_text(".env\n*.local\n")
    (workspace / "sub").mkdir()
    (workspace / "sub" / ".gitignore").write_text(".env.test\n")
    rec = ChangeRecorder(workspace)
    changes = record_shell(
        rec, workspace, "echo K=1 > .env; echo K=2 > sub/.env.test; echo x > a.local"
    )
    assert sorted(c["path"] for c in changes) == [".env", "sub/.env.test"]
    assert all("text" not in c["after"] for c in changes)  # a hash, never the content
