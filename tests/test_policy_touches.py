"""What an action touches (agentctl.policy.touches): resolving its paths, and what that costs.

Deciding an action resolves the action's own paths; the workspace and the job's database are
the job's fixed places, resolved once per policy set (issue 14: before, every action paid an
lstat for each folder of both, ~14 per read_file step). The decisions must stay exactly those
of `os.path.realpath(workspace / path)`: symlinks, `..`, loops, the workspace itself reached
through a symlink.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from agentctl.policy.rules import PolicySet, load_policy_text
from agentctl.policy.touches import resolve_path

POLICY = """\
version: 1
name: t
default: ask
rules:
  - {id: read, tools: [read_file], decision: allow}
  - {id: tmp, tools: [read_file], paths: ["/opt/shared/**"], decision: allow}
"""


def count_lstat(monkeypatch) -> list[str]:
    """Every os.lstat from here on (os.path.realpath looks at each name with one)."""
    calls: list[str] = []
    real = os.lstat

    def counting(path, *args, **kwargs):
        calls.append(os.fsdecode(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "lstat", counting)
    return calls


def test_deciding_more_actions_does_not_resolve_the_workspace_and_database_again(
    tmp_path: Path, monkeypatch
) -> None:
    # Deep on purpose: each folder above the workspace or the database is one lstat per
    # resolution, so resolving them per action shows up plainly in the count.
    workspace = tmp_path / "a" / "b" / "c" / "workspace"
    workspace.mkdir(parents=True)
    (workspace / "notes.txt").write_text("x")
    db = tmp_path / "d" / "e" / "f" / "agentctl.db"
    db.parent.mkdir(parents=True)
    db.write_text("")
    policies = PolicySet([load_policy_text(POLICY, "t.yaml")])

    def lstats_for(n: int) -> int:
        with monkeypatch.context() as patch:
            calls = count_lstat(patch)
            for _ in range(n):
                decision = policies.decide(
                    "read_file", {"path": "notes.txt"}, workspace=workspace, db_path=db
                )
                assert decision.decision == "allow", decision.reason
        return len(calls)

    lstats_for(1)  # the set's first decision resolves the workspace and database
    few, many = lstats_for(1), lstats_for(21)
    per_action = (many - few) / 20
    # `notes.txt` is one name below the resolved workspace: one lstat, nothing above it.
    assert per_action == 1, f"{per_action} lstat calls per read_file action"


def test_the_places_are_resolved_per_workspace_and_database(tmp_path: Path) -> None:
    """One policy set asked about two workspaces (and two databases) keeps them apart."""
    first, second = tmp_path / "one", tmp_path / "two"
    for folder in (first, second):
        folder.mkdir()
        (folder / "agentctl.db").write_text("")
    policies = PolicySet([load_policy_text(POLICY, "t.yaml")])
    db = first / "agentctl.db"
    assert policies.decide("read_file", {"path": "agentctl.db"}, workspace=first, db_path=db)
    got = policies.decide("read_file", {"path": "agentctl.db"}, workspace=first, db_path=db)
    assert got.decision == "deny" and "builtin:database (deny)" in got.rules
    other = policies.decide(
        "read_file", {"path": "agentctl.db"}, workspace=second, db_path=second / "agentctl.db"
    )
    assert "builtin:database (deny)" in other.rules
    unrelated = policies.decide("read_file", {"path": "agentctl.db"}, workspace=second, db_path=db)
    assert unrelated.decision == "allow", unrelated.reason
    outside = policies.decide("read_file", {"path": "../one/x"}, workspace=second, db_path=db)
    assert "builtin:outside-workspace (deny)" in outside.rules


def test_a_workspace_reached_through_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / "src").mkdir(parents=True)
    (real / "src" / "a.py").write_text("1")
    (tmp_path / "elsewhere").mkdir()
    (real / "escape").symlink_to(tmp_path / "elsewhere")
    link = tmp_path / "link"
    link.symlink_to(real)
    policies = PolicySet([load_policy_text(POLICY, "t.yaml")])
    for workspace in (link, real, tmp_path / "real" / "src" / ".."):
        inside = policies.decide("read_file", {"path": "src/a.py"}, workspace=workspace)
        assert inside.decision == "allow", (workspace, inside.reason)
        back = policies.decide("read_file", {"path": "../real/src/a.py"}, workspace=workspace)
        assert back.decision == "allow", (workspace, back.reason)
        through_link = policies.decide("read_file", {"path": "../link/src/a.py"}, workspace=link)
        assert through_link.decision == "allow", through_link.reason
        out = policies.decide("read_file", {"path": "escape/x"}, workspace=workspace)
        assert "builtin:outside-workspace (deny)" in out.rules, (workspace, out.rules)


# --- resolve_path is os.path.realpath of the joined path ----------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> tuple[str, str]:
    return build_tree(tmp_path)


def build_tree(tmp_path: Path) -> tuple[str, str]:
    """A resolved workspace with every kind of symlink a path can meet on the way (and the
    folder holding it)."""
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    root = tmp_path / "ws"
    (root / "dir" / "sub").mkdir(parents=True)
    (root / "file").write_text("x")
    links = {
        "rel": "dir/sub",  # relative, inside
        "abs": str(root / "dir"),  # absolute, inside
        "out": str(outside / "deep"),  # absolute, outside
        "up": "..",  # the workspace's parent
        "upout": "../outside",  # relative, outside
        "loop": "loop2",  # a loop
        "loop2": "loop",
        "self": "self",  # a link to itself
        "dangling": "missing/thing",
        "chain": "rel",  # a link to a link
        "dotdot": "dir/../dir/sub/..",  # `..` inside the target
        "slashes": "//dir///sub//",
    }
    for name, target in links.items():
        (root / name).symlink_to(target)
    (root / "dir" / "back").symlink_to("../file")
    return str(root.resolve()), str(tmp_path.resolve())


WORDS = ["dir", "rel", "abs", "out", "up", "upout", "loop", "self", "dangling", "chain"]
WORDS += ["dotdot", "slashes", "..", ".", "", "file", "missing", "back", "sub"]


def test_resolve_path_is_realpath_of_the_joined_path(tree: tuple[str, str]) -> None:
    root, _ = tree
    words = ["/".join(p) for n in (1, 2) for p in itertools.product(WORDS, repeat=n)]
    links = ["rel", "abs", "up", "upout", "loop", "self", "chain", "dotdot", "..", "dir"]
    words += ["/".join(p) for p in itertools.product(links, repeat=3)]
    words += ["dir/back", "dir//sub/./../back", "./file/", "up/ws/out/..", "dir/sub/../../.."]
    checked = 0
    for word in words:
        if not word:
            continue
        got = resolve_path(word, root)
        joined = os.path.join(root, word)
        want = os.path.realpath(joined)
        inside = want == root or want.startswith(root + os.sep)
        assert (got.absolute, got.literal) == (want, os.path.normpath(joined)), word
        assert got.rel == (os.path.relpath(want, root) if inside else None), word
        checked += 1
    assert checked > 1300


def test_absolute_and_home_paths_resolve_as_before(tree: tuple[str, str]) -> None:
    root, base = tree
    for word in (f"{base}/ws/rel", f"{base}/ws/up/outside", "/", "~", "~/x", f"{root}/loop"):
        got = resolve_path(word, root)
        expanded = os.path.expanduser(word)
        assert got.absolute == os.path.realpath(os.path.join(root, expanded)), word
