"""Tests for agentctl.changes.record (recording changes), agentctl.changes.history (diff, rollback) and
agentctl.changes.workspace_files (contained writes), with real file tools and real shell commands."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from agentctl.changes.history import (
    apply_rollback,
    collect_changes,
    net_changes,
    plan_rollback,
    render_diff,
)
from agentctl.changes.record import ChangeRecorder
from agentctl.process.run import minimal_env, run_process
from agentctl.store import Event
from agentctl.tools.base import ToolContext, ToolSpec
from agentctl.tools.builtin import builtin_registry, builtin_spec

TOOLS = builtin_registry().select(None)


def shell(ws: Path, command: str) -> None:
    result = run_process(command, cwd=ws, env=minimal_env(), timeout=30)
    assert result.exit_code == 0, result.output


def record_shell(rec: ChangeRecorder, ws: Path, command: str) -> list[dict[str, Any]]:
    token = rec.before(builtin_spec("shell"), {"command": command})
    shell(ws, command)
    return rec.after(token)


def record_tool(rec: ChangeRecorder, ws: Path, name: str, **args: Any) -> list[dict[str, Any]]:
    token = rec.before(builtin_spec(name), args)
    result = TOOLS[name].run(args, ToolContext(workspace=ws))
    assert result.ok, result.output
    return rec.after(token)


def tree(ws: Path) -> dict[str, tuple[Any, int]]:
    """Every file and link under ws (but .git): content (or link target) and permission bits."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(ws):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            path = Path(dirpath, name)
            rel = path.relative_to(ws).as_posix()
            st = path.lstat()
            body = f"-> {os.readlink(path)}" if path.is_symlink() else path.read_bytes()
            out[rel] = (body, stat.S_IMODE(st.st_mode))
    return out


def by_path(changes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["path"]: c for c in changes}


class Log:
    """A job's events as the engine would append them."""

    def __init__(self) -> None:
        self.events: list[Event] = [Event(1, 0.0, "job_created", None, {})]

    def add(self, step: str, changes: list[dict[str, Any]]) -> None:
        self.events.append(
            Event(
                len(self.events) + 1,
                0.0,
                "action_finished",
                step,
                {"key": f"{step}/{len(self.events)}", "changes": changes},
            )
        )

    def rollback(
        self,
        ws: Path,
        *,
        to_step: str | None = None,
        force: bool = False,
        steps: tuple[str, ...] = ("a", "b", "c"),
    ):
        plan = plan_rollback(
            collect_changes(self.events), ws, to_step=to_step, step_order=list(steps)
        )
        result = apply_rollback(plan, ws, force=force)
        self.events.append(
            Event(len(self.events) + 1, 0.0, "rollback", None, {"changes": result.undone})
        )
        return plan, result


@pytest.fixture
def rec(workspace: Path) -> ChangeRecorder:
    return ChangeRecorder(workspace)


# --- recording ------------------------------------------------------------------------------


def test_file_tools_record_one_file_before_and_after(workspace: Path, rec: ChangeRecorder) -> None:
    created = record_tool(rec, workspace, "write_file", path="src/app.py", content="a = 1\n")
    assert created == [
        {
            "path": "src/app.py",
            "kind": "created",
            "before": None,
            "after": {
                "mode": "100644",
                "sha256": created[0]["after"]["sha256"],
                "size": 6,
                "text": "a = 1\n",
            },
            "too_large": False,
            "binary": False,
            "created_dirs": ["src"],
        }
    ]
    edited = record_tool(rec, workspace, "edit_file", path="src/app.py", old="1", new="2")
    assert [(c["kind"], c["before"]["text"], c["after"]["text"]) for c in edited] == [
        ("modified", "a = 1\n", "a = 2\n")
    ]
    assert "created_dirs" not in edited[0]


def test_file_tools_do_not_scan_the_tree(workspace: Path, rec: ChangeRecorder) -> None:
    (workspace / "other.txt").write_text("x")
    token = rec.before(builtin_spec("write_file"), {"path": "a.txt", "content": "hi"})
    (workspace / "other.txt").write_text("changed behind the tool's back")
    TOOLS["write_file"].run({"path": "a.txt", "content": "hi"}, ToolContext(workspace=workspace))
    assert [c["path"] for c in rec.after(token)] == ["a.txt"]


def test_read_only_tools_record_nothing(workspace: Path, rec: ChangeRecorder) -> None:
    token = rec.before(builtin_spec("read_file"), {"path": "a.txt"})
    (workspace / "a.txt").write_text("made by someone else")
    assert rec.after(token) == []
    token = rec.before(ToolSpec("my_lint", "", {}, read_only=True), {})
    (workspace / "b.txt").write_text("x")
    assert rec.after(token) == []


def test_a_file_tool_path_outside_the_workspace_records_nothing(
    workspace: Path, rec: ChangeRecorder
) -> None:
    assert rec.after(rec.before(builtin_spec("write_file"), {"path": "../escape.txt"})) == []
    assert rec.after(rec.before(builtin_spec("edit_file"), {"path": None})) == []


def test_shell_edits_creations_deletions_and_renames(workspace: Path, rec: ChangeRecorder) -> None:
    (workspace / "a.txt").write_text("one\ntwo\n")
    (workspace / "gone.txt").write_text("bye\n")
    (workspace / "old.txt").write_text("moving\n")
    (workspace / "d").mkdir()
    (workspace / "d" / "keep.txt").write_text("stays\n")
    changes = by_path(
        record_shell(
            rec,
            workspace,
            "sed -i s/two/TWO/ a.txt && rm gone.txt && mv old.txt new.txt"
            " && mkdir -p x/y && echo hi > x/y/n.txt",
        )
    )
    assert {p: c["kind"] for p, c in changes.items()} == {
        "a.txt": "modified",
        "gone.txt": "deleted",
        "new.txt": "renamed",
        "x/y/n.txt": "created",
    }
    assert changes["a.txt"]["before"]["text"] == "one\ntwo\n"
    assert changes["a.txt"]["after"]["text"] == "one\nTWO\n"
    assert changes["gone.txt"]["before"]["text"] == "bye\n" and changes["gone.txt"]["after"] is None
    assert changes["new.txt"]["from_path"] == "old.txt"
    assert changes["new.txt"]["before"]["text"] == "moving\n"
    assert changes["x/y/n.txt"]["created_dirs"] == ["x", "x/y"]


def test_untouched_content_is_no_change_and_same_size_rewrites_are_caught(
    workspace: Path, rec: ChangeRecorder
) -> None:
    (workspace / "a.txt").write_text("aaaa\n")
    assert record_shell(rec, workspace, "touch a.txt") == []
    st = (workspace / "a.txt").stat()
    token = rec.before(builtin_spec("shell"), {})
    (workspace / "a.txt").write_text("bbbb\n")  # same size, and the same mtime put back
    os.utime(workspace / "a.txt", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert [c["after"]["text"] for c in rec.after(token)] == ["bbbb\n"]


def test_mode_changes(workspace: Path, rec: ChangeRecorder) -> None:
    (workspace / "run.sh").write_text("echo hi\n")
    os.chmod(workspace / "run.sh", 0o644)
    [change] = record_shell(rec, workspace, "chmod +x run.sh")
    assert change["kind"] == "mode"
    assert (change["before"]["mode"], change["after"]["mode"]) == ("100644", "100755")


def test_binary_files_are_kept_as_base64(workspace: Path, rec: ChangeRecorder) -> None:
    (workspace / "img.bin").write_bytes(b"\x89PNG\0\1\2")
    [change] = record_shell(rec, workspace, "printf '\\377\\376' >> img.bin")
    assert change["binary"] is True and change["kind"] == "modified"
    assert base64.b64decode(change["before"]["base64"]) == b"\x89PNG\0\1\2"
    assert base64.b64decode(change["after"]["base64"]) == b"\x89PNG\0\1\2\xff\xfe"
    [latin] = record_shell(rec, workspace, "printf 'caf\\351' > latin1.txt")
    assert latin["binary"] is True and "base64" in latin["after"]


def test_files_over_the_cap_are_named_but_not_kept(workspace: Path) -> None:
    rec = ChangeRecorder(workspace, max_file_size=100)
    (workspace / "big.log").write_text("x" * 500)
    (workspace / "small.txt").write_text("s")
    changes = by_path(
        record_shell(
            rec,
            workspace,
            "echo more >> big.log; echo t > small.txt; head -c 300 /dev/zero > new.bin",
        )
    )
    big = changes["big.log"]
    assert big["kind"] == "modified" and big["too_large"] is True and "max_file_size" in big["note"]
    assert set(big["before"]) == {"mode", "sha256", "size"} and big["before"]["sha256"] is None
    assert (big["before"]["size"], big["after"]["size"]) == (500, 505)
    assert changes["new.bin"]["too_large"] is True and changes["small.txt"]["too_large"] is False
    tool = record_tool(rec, workspace, "write_file", path="huge.txt", content="y" * 200)
    assert tool[0]["too_large"] is True and "text" not in tool[0]["after"]


def test_a_large_file_moved_is_a_rename_by_inode(workspace: Path) -> None:
    rec = ChangeRecorder(workspace, max_file_size=10)
    (workspace / "data.csv").write_text("a,b\n" * 100)
    [change] = record_shell(rec, workspace, "mv data.csv moved.csv")
    assert (change["kind"], change["from_path"], change["too_large"]) == (
        "renamed",
        "data.csv",
        True,
    )


def test_content_over_the_memory_budget_is_said_to_be_not_kept(workspace: Path) -> None:
    rec = ChangeRecorder(workspace, max_total=10)
    (workspace / "a.txt").write_text("0123456789abcdef")
    [change] = record_shell(rec, workspace, "echo x >> a.txt")
    assert change["too_large"] is True and "memory budget" in change["note"]
    assert change["before"]["sha256"] is not None  # still hashed: changes are still detected


def test_git_and_excluded_paths_are_not_recorded(workspace: Path) -> None:
    rec = ChangeRecorder(workspace, exclude=["*.log", "build/", "/cache/**", "docs/*.tmp"])
    (workspace / ".git").mkdir()
    (workspace / "sub" / ".git").mkdir(parents=True)
    changes = record_shell(
        rec,
        workspace,
        "echo x > .git/HEAD; echo x > sub/.git/config;"
        " echo x > app.log; mkdir -p build/o deep/build; echo x > build/o/a;"
        " echo x > deep/build/b; mkdir -p cache/z; echo x > cache/z/c;"
        " mkdir docs; echo x > docs/d.tmp; echo x > keep.txt; echo x > docs/k",
    )
    # Inside a .git only what git runs is recorded (its config and hooks: issue 21).
    assert sorted(c["path"] for c in changes) == ["docs/k", "keep.txt", "sub/.git/config"]
    token = rec.before(builtin_spec("write_file"), {"path": ".git/config", "content": "x"})
    refused = TOOLS["write_file"].run(
        {"path": ".git/config", "content": "x"}, ToolContext(workspace=workspace)
    )
    assert refused.error == "protected_path" and rec.after(token) == []
    assert record_tool(rec, workspace, "write_file", path="build/x.txt", content="x") == []


def test_symlinks_are_recorded_as_links_and_never_followed(workspace: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret\n")
    rec = ChangeRecorder(workspace)
    changes = by_path(
        record_shell(rec, workspace, f"ln -s {outside} door; ln -s {outside}/secret.txt s.txt")
    )
    assert changes["door"]["after"] == {
        "mode": "120000",
        "size": len(str(outside)),
        "sha256": changes["door"]["after"]["sha256"],
        "link": str(outside),
    }
    assert changes["s.txt"]["after"]["link"] == str(outside / "secret.txt")
    assert not any("text" in c["after"] for c in changes.values())  # the target is not read
    # What happens beyond the link is not the workspace's: not walked, not recorded.
    assert record_shell(rec, workspace, "echo more >> door/secret.txt; echo x > door/new") == []
    token = rec.before(builtin_spec("write_file"), {"path": "door/x", "content": "x"})
    (outside / "x").write_text("x")
    assert rec.after(token) == []


def test_the_cache_makes_later_snapshots_read_only_what_changed(
    workspace: Path, monkeypatch
) -> None:
    for i in range(50):
        (workspace / f"f{i}.txt").write_text(str(i))
    rec = ChangeRecorder(workspace)
    rec.prime()
    reads: list[str] = []
    real_read = rec.scanner._read
    monkeypatch.setattr(
        rec.scanner, "_read", lambda rel, *a: reads.append(rel) or real_read(rel, *a)
    )
    for entry in rec.scanner._cache.values():
        entry.racy = False  # as if the files had aged past the timestamp window
    assert len(record_shell(rec, workspace, "echo changed > f7.txt")) == 1
    assert reads == ["f7.txt"]


# --- diff -----------------------------------------------------------------------------------


def test_render_diff_is_git_style(workspace: Path, rec: ChangeRecorder) -> None:
    (workspace / "a.txt").write_text("one\ntwo\nthree\n")
    (workspace / "old.txt").write_text("same\n")
    (workspace / "gone.txt").write_text("bye")
    (workspace / "run.sh").write_text("x\n")
    (workspace / "pic.bin").write_bytes(b"\0\1")
    log = Log()
    log.add(
        "a",
        record_shell(
            rec,
            workspace,
            "sed -i s/two/2/ a.txt; mv old.txt new.txt;"
            " rm gone.txt; chmod 755 run.sh; printf '\\0\\2' > pic.bin;"
            " echo fresh > c.txt",
        ),
    )
    text = render_diff(collect_changes(log.events), color=False)
    assert (
        "diff --git a/a.txt b/a.txt\n--- a/a.txt\n+++ b/a.txt\n@@ -1,3 +1,3 @@\n one\n-two\n"
        "+2\n three\n" in text
    )
    assert "diff --git a/old.txt b/new.txt\nrename from old.txt\nrename to new.txt\n" in text
    assert (
        "deleted file mode 100644\n--- a/gone.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n"
        "\\ No newline at end of file\n" in text
    )
    assert "old mode 100644\nnew mode 100755\n" in text
    assert "Binary file pic.bin changed" in text
    assert "new file mode 100644\n--- /dev/null\n+++ b/c.txt\n@@ -0,0 +1 @@\n+fresh\n" in text
    assert "\x1b[" not in text
    colored = render_diff(collect_changes(log.events), color=True)
    assert "\x1b[31m-two\x1b[0m" in colored and "\x1b[32m+2\x1b[0m" in colored


def test_diff_adds_up_changes_per_file(workspace: Path, rec: ChangeRecorder) -> None:
    log = Log()
    log.add("a", record_tool(rec, workspace, "write_file", path="t.txt", content="1\n"))
    log.add("a", record_tool(rec, workspace, "write_file", path="t.txt", content="2\n"))
    log.add("b", record_tool(rec, workspace, "write_file", path="tmp.txt", content="x"))
    log.add("b", record_shell(rec, workspace, "rm tmp.txt; mv t.txt u.txt"))
    [net] = net_changes(collect_changes(log.events))
    assert (net.kind, net.path, net.after["text"]) == ("created", "u.txt", "2\n")
    assert "too large" not in render_diff(collect_changes(log.events), color=False)


def test_diff_names_files_too_large_to_keep(workspace: Path) -> None:
    rec = ChangeRecorder(workspace, max_file_size=4)
    log = Log()
    log.add("a", record_shell(rec, workspace, "echo 0123456789 > big.txt"))
    text = render_diff(collect_changes(log.events), color=False)
    assert "File big.txt changed; its content was not kept" in text


# --- rollback -------------------------------------------------------------------------------


def seed(ws: Path) -> None:
    (ws / "a.txt").write_text("original\n")
    (ws / "lib").mkdir()
    (ws / "lib" / "gone.py").write_text("print('bye')\n")
    (ws / "old.txt").write_text("moving\n")
    (ws / "pic.bin").write_bytes(b"\0\1\2\3")
    os.chmod(ws / "a.txt", 0o640)


def make_job(ws: Path, rec: ChangeRecorder, *, seeded: bool = False) -> Log:
    """Three steps of changes: a edits and creates, b deletes and renames, c edits again."""
    if not seeded:
        seed(ws)
    log = Log()
    log.add("a", record_tool(rec, ws, "write_file", path="a.txt", content="step a\n"))
    log.add("a", record_tool(rec, ws, "write_file", path="new/dir/n.txt", content="new\n"))
    log.add(
        "b",
        record_shell(
            rec,
            ws,
            "rm -r lib && mv old.txt moved.txt && printf '\\377' > pic.bin && chmod 755 a.txt",
        ),
    )
    log.add("c", record_shell(rec, ws, "echo 'step c' > a.txt && echo more >> new/dir/n.txt"))
    return log


def test_rollback_undoes_everything_in_reverse(workspace: Path, rec: ChangeRecorder) -> None:
    log = make_job(workspace, rec)
    plan, result = log.rollback(workspace)
    assert result.conflicts == [] and result.skipped_too_large == []
    assert sorted(result.restored) == ["a.txt", "lib/gone.py", "old.txt", "pic.bin"]
    assert sorted(result.removed) == ["moved.txt", "new/dir/n.txt"]
    assert not (workspace / "new").exists()  # directories the job created, once empty
    assert result.undone == plan.change_ids and len(result.undone) == 8


def test_rollback_restores_the_exact_state(workspace: Path, rec: ChangeRecorder) -> None:
    (workspace / "untouched.txt").write_text("u")
    seed(workspace)
    original = tree(workspace)
    log = make_job(workspace, rec, seeded=True)
    assert tree(workspace) != original
    log.rollback(workspace)
    assert tree(workspace) == original
    assert (workspace / "pic.bin").read_bytes() == b"\0\1\2\3"  # binary restore
    assert stat.S_IMODE((workspace / "a.txt").stat().st_mode) == 0o640  # mode restore


def test_rollback_to_a_step_keeps_earlier_steps(workspace: Path, rec: ChangeRecorder) -> None:
    log = make_job(workspace, rec)
    _plan, result = log.rollback(workspace, to_step="c")
    assert sorted(result.restored) == ["a.txt", "new/dir/n.txt"]
    assert (workspace / "a.txt").read_text() == "step a\n"
    assert (workspace / "new/dir/n.txt").read_text() == "new\n"
    assert not (workspace / "lib").exists()
    _, result = log.rollback(workspace, to_step="b")
    assert (workspace / "lib/gone.py").exists() and (workspace / "old.txt").exists()
    assert (workspace / "a.txt").read_text() == "step a\n"
    assert stat.S_IMODE((workspace / "a.txt").stat().st_mode) == 0o640
    _, result = log.rollback(workspace)
    assert (workspace / "a.txt").read_text() == "original\n" and result.conflicts == []
    assert not (workspace / "new").exists()


def test_rollback_never_undoes_a_change_twice(workspace: Path, rec: ChangeRecorder) -> None:
    log = make_job(workspace, rec)
    log.rollback(workspace)
    (workspace / "a.txt").write_text("the user's own work\n")
    plan, result = log.rollback(workspace)
    assert plan.items == [] and result.restored == []
    assert (workspace / "a.txt").read_text() == "the user's own work\n"
    assert all(c.rolled_back_by for c in collect_changes(log.events))


def test_unknown_step_is_a_usage_error(workspace: Path, rec: ChangeRecorder) -> None:
    from agentctl.errors import UsageError

    log = make_job(workspace, rec)
    with pytest.raises(UsageError, match="unknown step 'nope'") as info:
        plan_rollback(collect_changes(log.events), workspace, to_step="nope", step_order=["a"])
    assert info.value.exit_code == 2 and "a" in info.value.hint


def test_conflicts_are_left_alone_unless_forced(workspace: Path, rec: ChangeRecorder) -> None:
    log = make_job(workspace, rec)
    (workspace / "a.txt").write_text("edited by a person\n")
    os.remove(workspace / "pic.bin")
    os.remove(workspace / "moved.txt")  # what rollback would do anyway: not a conflict
    plan = plan_rollback(
        collect_changes(log.events), workspace, to_step=None, step_order=["a", "b", "c"]
    )
    flagged = {i.path: i.reason for i in plan.items if i.status == "conflict"}
    assert flagged == {"a.txt": "changed since the job", "pic.bin": "deleted since the job"}
    result = apply_rollback(plan, workspace, force=False)
    assert {c["path"] for c in result.conflicts} == {"a.txt", "pic.bin"}
    assert (workspace / "a.txt").read_text() == "edited by a person\n"
    assert not (workspace / "pic.bin").exists()
    assert (workspace / "lib/gone.py").exists() and not (workspace / "new").exists()
    assert (workspace / "old.txt").read_text() == "moving\n" and "moved.txt" in result.unchanged
    # Changes that touched a conflicting path stay recorded, to roll back later.
    log.events.append(Event(len(log.events) + 1, 0.0, "rollback", None, {"changes": result.undone}))
    live = [c for c in collect_changes(log.events) if c.rolled_back_by is None]
    assert {c.path for c in live} == {"a.txt", "pic.bin"}
    _, forced = log.rollback(workspace, force=True)
    assert sorted(forced.restored) == ["a.txt", "pic.bin"] and forced.conflicts == []
    assert (workspace / "a.txt").read_text() == "original\n"
    assert (workspace / "pic.bin").read_bytes() == b"\0\1\2\3"


def test_a_file_created_again_since_the_job_is_a_conflict(
    workspace: Path, rec: ChangeRecorder
) -> None:
    (workspace / "x.txt").write_text("x")
    log = Log()
    log.add("a", record_shell(rec, workspace, "rm x.txt"))
    (workspace / "x.txt").write_text("a new x by someone")
    _, result = log.rollback(workspace)
    assert result.conflicts == [{"path": "x.txt", "reason": "created since the job"}]
    _, result = log.rollback(workspace, force=True)
    assert (workspace / "x.txt").read_text() == "x"


def test_too_large_files_are_skipped(workspace: Path) -> None:
    rec = ChangeRecorder(workspace, max_file_size=10)
    (workspace / "big.txt").write_text("0123456789abc")
    log = Log()
    log.add("a", record_shell(rec, workspace, "echo more >> big.txt; echo 0123456789abc > b2"))
    _, result = log.rollback(workspace)
    assert sorted(result.skipped_too_large) == ["b2", "big.txt"]
    assert (workspace / "big.txt").read_text().endswith("more\n")
    _, result = log.rollback(workspace, force=True)
    assert result.removed == ["b2"] and result.skipped_too_large == ["big.txt"]


def test_rollback_never_writes_through_a_symlink_planted_after_the_job(
    workspace: Path, rec: ChangeRecorder, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_text("do not touch\n")
    (workspace / "conf.txt").write_text("v1\n")
    (workspace / "pkg").mkdir()
    (workspace / "pkg" / "mod.py").write_text("v1\n")
    log = Log()
    log.add(
        "a",
        record_shell(
            rec,
            workspace,
            "echo v2 > conf.txt; echo v2 > pkg/mod.py;"
            " rm pkg/mod.py; mkdir sub; echo s > sub/s.txt",
        ),
    )
    # After the job: every path it touched now leads outside.
    (workspace / "conf.txt").unlink()
    (workspace / "conf.txt").symlink_to(outside / "victim.txt")
    (workspace / "pkg").rmdir()
    (workspace / "pkg").symlink_to(outside)
    os.remove(workspace / "sub" / "s.txt")
    (workspace / "sub").rmdir()
    (workspace / "sub").symlink_to(outside)
    (outside / "s.txt").write_text("s")  # looks exactly like what the job created
    _, result = log.rollback(workspace)
    assert {c["path"] for c in result.conflicts} == {"conf.txt", "pkg/mod.py", "sub/s.txt"}
    _, forced = log.rollback(workspace, force=True)
    assert (outside / "victim.txt").read_text() == "do not touch\n"
    assert sorted(os.listdir(outside)) == ["s.txt", "victim.txt"]
    assert (outside / "s.txt").read_text() == "s"
    # The link at conf.txt itself is replaced (not followed); paths through a link are not.
    assert forced.restored == ["conf.txt"] and not (workspace / "conf.txt").is_symlink()
    assert (workspace / "conf.txt").read_text() == "v1\n"
    assert {c["path"] for c in forced.conflicts} == {"pkg/mod.py", "sub/s.txt"}
    assert all("symlink" in c["reason"] for c in forced.conflicts)


def test_rollback_restores_symlinks_and_removes_created_ones(
    workspace: Path, rec: ChangeRecorder
) -> None:
    (workspace / "target.txt").write_text("t")
    (workspace / "link").symlink_to("target.txt")
    log = Log()
    log.add("a", record_shell(rec, workspace, "rm link; ln -s /etc/passwd evil"))
    _, result = log.rollback(workspace)
    assert result.removed == ["evil"] and result.restored == ["link"]
    assert os.readlink(workspace / "link") == "target.txt"
    assert not os.path.lexists(workspace / "evil")
