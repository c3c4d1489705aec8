"""A job's file changes read back from its log: the diff a person reads, and rollback.

The recorder (`agentctl.changes.record.ChangeRecorder`) puts each action's changes
in its `action_finished` event; `collect_changes` turns them into `Change`s in log order, and
`rollback` events name the changes they undid, so no change is undone twice.

Rollback works per path, not per change: the state to put back is the `before` of the
earliest change being undone, and the path must still hold what the job last left there (the
`after` of its latest change, or what an earlier rollback put back). A path that holds
anything else was changed since, by someone else: a conflict, left alone unless forced. File
system access goes through `agentctl.changes.workspace_files`, which never follows a symlink.
"""

from __future__ import annotations

import base64
import hashlib
import stat
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from agentctl.changes.workspace_files import Unreachable, read_current, remove_at, write_file_at
from agentctl.errors import UsageError
from agentctl.events import EventType
from agentctl.visible import make_visible

__all__ = ["Change", "Plan", "PlanItem", "RollbackResult", "apply_rollback", "collect_changes"]
__all__ += ["judge_item", "kept_contents", "net_changes", "plan_rollback", "render_diff"]

State = dict[str, Any] | None  # a FileState.to_dict(), or None where there is no file
_PAYLOAD_KEYS = frozenset({"text", "base64", "link"})


@dataclass
class Change:
    id: str  # "<seq>.<index>": the event and the position in its changes list
    seq: int
    index: int
    step: str | None
    path: str
    kind: str  # created | modified | deleted | renamed | mode
    before: State
    after: State
    from_path: str | None = None
    too_large: bool = False
    binary: bool = False
    created_dirs: list[str] = field(default_factory=list)
    note: str | None = None
    rolled_back_by: int | None = None  # seq of the `rollback` event that undid it

    def touches(self) -> list[tuple[str, State, State]]:
        """(path, state before, state after) for each path this change affected."""
        if self.kind == "renamed" and self.from_path is not None:
            return [(self.from_path, self.before, None), (self.path, None, self.after)]
        return [(self.path, self.before, self.after)]

    def summary(self) -> dict[str, Any]:
        """The change without file contents: for `diff --json`."""
        out: dict[str, Any] = {
            "id": self.id,
            "seq": self.seq,
            "step": self.step,
            "path": self.path,
            "kind": self.kind,
        }
        if self.from_path is not None:
            out["from_path"] = self.from_path
        for side, state in (("before", self.before), ("after", self.after)):
            out[side] = (
                None if state is None else {k: state.get(k) for k in ("mode", "sha256", "size")}
            )
        out.update(binary=self.binary, too_large=self.too_large)
        return out


def collect_changes(events: Iterable[Any]) -> list[Change]:
    """Every recorded change of a job in log order, each marked with the rollback that undid it."""
    changes: list[Change] = []
    undone: dict[str, int] = {}
    for event in events:
        if event.type == EventType.ACTION_FINISHED:
            for i, data in enumerate(event.data.get("changes") or []):
                changes.append(
                    Change(
                        id=f"{event.seq}.{i}",
                        seq=event.seq,
                        index=i,
                        step=event.step,
                        path=data["path"],
                        kind=data["kind"],
                        before=data.get("before"),
                        after=data.get("after"),
                        from_path=data.get("from_path"),
                        too_large=bool(data.get("too_large")),
                        binary=bool(data.get("binary")),
                        created_dirs=list(data.get("created_dirs") or []),
                        note=data.get("note"),
                    )
                )
        elif event.type == EventType.ROLLBACK:
            for change_id in event.data.get("changes") or []:
                undone.setdefault(change_id, event.seq)
    for change in changes:
        change.rolled_back_by = undone.get(change.id)
    return changes


def _same(a: State, b: State) -> bool:
    if a is None or b is None:
        return a is b
    return (
        a["mode"] == b["mode"]
        and a.get("sha256") is not None
        and a.get("sha256") == b.get("sha256")
    )


def net_changes(changes: Iterable[Change]) -> list[Change]:
    """What the changes add up to, one per file (as `git diff` shows a working tree): a file
    edited five times is one modification, one created then deleted is nothing."""
    # While folding, a net change's `from_path` is where its file was before the job (None
    # if it did not exist) and `path` where it is now.
    active: dict[str, Change] = {}
    done: list[Change] = []
    live = sorted((c for c in changes if c.rolled_back_by is None), key=lambda c: (c.seq, c.index))
    for c in live:
        source = c.from_path if c.kind == "renamed" and c.from_path else c.path
        net = active.pop(source, None)
        if net is None:
            net = replace(c, from_path=source if c.before is not None else None, created_dirs=[])
        if c.path in active:  # a deleted file's path, reused by this rename
            done.append(active.pop(c.path))
        net.path, net.after = c.path, c.after
        net.step = net.step if net.step == c.step else None
        net.note = net.note or c.note
        active[c.path] = net
    out = []
    for net in done + list(active.values()):
        origin = net.from_path
        if net.after is None:
            if net.before is None:
                continue
            net.path = origin or net.path
        if origin == net.path and _same(net.before, net.after):
            continue
        net.kind = (
            "created"
            if net.before is None
            else "deleted"
            if net.after is None
            else "renamed"
            if origin != net.path
            else "mode"
            if _same_content(net.before, net.after)
            else "modified"
        )
        net.from_path = origin if net.kind == "renamed" else None
        sides = [s for s in (net.before, net.after) if s is not None]
        net.binary = any("base64" in s for s in sides)
        net.too_large = any(not (_PAYLOAD_KEYS & s.keys()) for s in sides)
        out.append(net)
    return sorted(out, key=lambda c: c.path)


# --- diff -----------------------------------------------------------------------------------

_COLORS = {
    "meta": "\x1b[1m",
    "hunk": "\x1b[36m",
    "del": "\x1b[31m",
    "add": "\x1b[32m",
    "note": "\x1b[2m",
}


def _payload_bytes(state: State) -> bytes | None:
    if state is None:
        return b""
    if "text" in state:
        text: str = state["text"]
        return text.encode("utf-8")
    if "base64" in state:
        return base64.b64decode(state["base64"])
    if "link" in state:
        link: str = state["link"]
        return link.encode("utf-8", "surrogateescape")
    return None


def render_diff(changes: Iterable[Change], *, color: bool) -> str:
    """A unified diff of what the changes add up to, git-style; binary files and files whose
    content was not kept are named, not shown."""
    lines: list[tuple[str, str]] = []
    for c in net_changes(changes):
        # Names as people can read them: a byte that is not UTF-8 as `\xNN`, controls escaped.
        old, path = make_visible(c.from_path or c.path), make_visible(c.path)
        lines.append(("meta", f"diff --git a/{old} b/{path}"))
        if c.before is None:
            assert c.after is not None  # a change has a state before it or after it
            lines.append(("meta", f"new file mode {c.after['mode']}"))
        elif c.after is None:
            lines.append(("meta", f"deleted file mode {c.before['mode']}"))
        else:
            if c.before["mode"] != c.after["mode"]:
                lines += [
                    ("meta", f"old mode {c.before['mode']}"),
                    ("meta", f"new mode {c.after['mode']}"),
                ]
            if c.kind == "renamed":
                lines += [("meta", f"rename from {old}"), ("meta", f"rename to {path}")]
        if c.kind in ("mode", "renamed") and _same_content(c.before, c.after):
            continue
        if c.too_large:
            why = c.note or "too large"
            lines.append(("note", f"File {path} changed; its content was not kept ({why})"))
        elif c.binary:
            lines.append(("note", f"Binary file {path} changed"))
        else:
            lines += _unified(c, old, path)
    out = []
    for style, text in lines:
        out.append(f"{_COLORS[style]}{text}\x1b[0m" if color and style in _COLORS else text)
    return "".join(line + "\n" for line in out)


def _same_content(a: State, b: State) -> bool:
    return (
        a is not None
        and b is not None
        and a.get("sha256") is not None
        and a.get("sha256") == b.get("sha256")
    )


def _unified(c: Change, old: str, path: str) -> list[tuple[str, str]]:
    a = (_payload_bytes(c.before) or b"").decode("utf-8", "replace").splitlines(keepends=True)
    b = (_payload_bytes(c.after) or b"").decode("utf-8", "replace").splitlines(keepends=True)
    out: list[tuple[str, str]] = []
    import difflib  # ~7 ms to import, needed only here

    for i, line in enumerate(
        difflib.unified_diff(
            a,
            b,
            "/dev/null" if c.before is None else f"a/{old}",
            "/dev/null" if c.after is None else f"b/{path}",
        )
    ):
        style = (
            "meta"
            if i < 2
            else "hunk"
            if line.startswith("@@")
            else "del"
            if line.startswith("-")
            else "add"
            if line.startswith("+")
            else "context"
        )
        out.append((style, line.rstrip("\n")))
        if not line.endswith("\n"):
            out.append(("note", "\\ No newline at end of file"))
    return out


# --- rollback -------------------------------------------------------------------------------


@dataclass
class PlanItem:
    path: str
    action: str  # restore | remove | none (the job's changes to it cancel out)
    target: State  # what to put back (None: nothing should be there)
    expected: State  # what the job last left there
    change_ids: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    created_dirs: list[str] = field(default_factory=list)
    status: str = "ok"  # as checked when planned: ok | unchanged | conflict | too_large
    reason: str = ""


@dataclass
class Plan:
    to_step: str | None
    items: list[PlanItem]
    change_ids: list[str]
    contents: dict[str, dict[str, Any]]  # sha256 -> a recorded state carrying that content


@dataclass
class RollbackResult:
    restored: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)  # {"path", "reason"}
    skipped_too_large: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)  # already as before the job
    undone: list[str] = field(default_factory=list)  # ids of the changes now rolled back

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _select(live: list[Change], to_step: str | None, step_order: list[str]) -> list[Change]:
    if to_step is None:
        return live
    if to_step not in step_order:
        raise UsageError(
            f"unknown step {to_step!r}", "steps of this job: " + (", ".join(step_order) or "none")
        )
    later = set(step_order[step_order.index(to_step) :])
    # Everything logged from the first change of that step on: steps run in order, and a
    # suffix of the log is what leaves every file in a state the job really had.
    cut = next((c.seq for c in live if c.step in later), None)
    return [] if cut is None else [c for c in live if c.seq >= cut]


def plan_rollback(
    changes: list[Change], workspace: Path, *, to_step: str | None, step_order: list[str]
) -> Plan:
    """What rolling back the job's changes (from `to_step` on) would do to each path, checked
    against the workspace as it is now. Raises UsageError for an unknown step."""
    root = Path(workspace).resolve()
    ordered = sorted(changes, key=lambda c: (c.seq, c.index))
    selected = _select([c for c in ordered if c.rolled_back_by is None], to_step, step_order)
    contents = kept_contents(ordered)
    last: dict[str, tuple[tuple[int, int, int], State]] = {}
    for c in ordered:
        for path, before, after in c.touches():
            # The latest event to touch a path says what is there: a live change leaves its
            # `after`; a rollback leaves the `before` of the earliest change it undid.
            pos, state = (
                ((c.seq, c.index, 0), after)
                if c.rolled_back_by is None
                else ((c.rolled_back_by, -c.seq, -c.index), before)
            )
            if path not in last or pos > last[path][0]:
                last[path] = (pos, state)
    items: dict[str, PlanItem] = {}
    for c in selected:
        for path, before, after in c.touches():
            item = items.setdefault(path, PlanItem(path, "", before, last[path][1]))
            item.change_ids.append(c.id)
            if c.step and c.step not in item.steps:
                item.steps.append(c.step)
            if before is None and after is not None:
                item.created_dirs += [d for d in c.created_dirs if d not in item.created_dirs]
    for item in items.values():
        item.action = (
            "none"
            if _same(item.target, item.expected)
            else "remove"
            if item.target is None
            else "restore"
        )
        item.status, item.reason, _ = judge_item(item, root, False, contents)
    return Plan(
        to_step, sorted(items.values(), key=lambda i: i.path), [c.id for c in selected], contents
    )


def _matches(current: Any, state: State) -> bool | None:
    """Whether what is at a path now is `state`; None when that cannot be known (the
    recorded state has no hash: its content was never read)."""
    if state is None:
        return current is None
    if current is None or current.kind not in ("file", "link"):
        return False
    mode = int(state["mode"], 8)
    if stat.S_IFMT(mode) != stat.S_IFMT(current.mode):
        return False
    if current.kind == "file" and stat.S_IMODE(mode) != stat.S_IMODE(current.mode):
        return False
    if state.get("sha256") is None:
        return None if state.get("size") == current.size else False
    return bool(state["sha256"] == current.sha256)


def kept_contents(changes: Iterable[Change]) -> dict[str, dict[str, Any]]:
    """sha256 -> a recorded state that carries that content, over all the changes."""
    contents: dict[str, dict[str, Any]] = {}
    for c in changes:
        for _, before, after in c.touches():
            for state in (before, after):
                if state and state.get("sha256") and _PAYLOAD_KEYS & state.keys():
                    contents.setdefault(state["sha256"], state)
    return contents


def judge_item(
    item: PlanItem, root: Path, force: bool, contents: dict[str, dict[str, Any]]
) -> tuple[str, str, bytes | None]:
    """(status, reason, content to write) for one path right now."""
    if item.action == "none":
        return "unchanged", "", None
    try:
        current = read_current(root, item.path)
    except Unreachable:
        return "conflict", "a parent directory is now a symlink or a file; not followed", None
    except OSError as error:
        return "conflict", f"cannot be read: {error.strerror or error}", None
    if _matches(current, item.target):
        return "unchanged", "", None
    if current is not None and current.kind not in ("file", "link"):
        what = "directory" if current.kind == "dir" else "special file"
        return "conflict", f"is now a {what}", None
    payload = None
    if item.target is not None:
        payload = _restorable(item.target, contents)
        if payload is None:
            return "too_large", "its content before the job was not kept", None
    verdict = _matches(current, item.expected)
    if verdict is None and not force:
        return "too_large", "its content was not kept, so changes since cannot be ruled out", None
    if verdict is False and not force:
        reason = (
            "deleted since the job"
            if current is None
            else "created since the job"
            if item.expected is None
            else "changed since the job"
        )
        return "conflict", reason, None
    return "ok", "", payload


def _restorable(state: dict[str, Any], contents: dict[str, dict[str, Any]]) -> bytes | None:
    source = state if _PAYLOAD_KEYS & state.keys() else contents.get(state.get("sha256") or "")
    data = _payload_bytes(source) if source is not None else None
    if data is None or hashlib.sha256(data).hexdigest() != state.get("sha256"):
        return None  # never write content that is not what was recorded
    return data


def apply_rollback(plan: Plan, workspace: Path, *, force: bool) -> RollbackResult:
    """Carry out a plan: remove what the job created (and the directories it made, once
    empty), then put back what it changed or deleted, with its mode. Each path is checked
    again right before it is touched."""
    root = Path(workspace).resolve()
    result = RollbackResult()
    settled: set[str] = set()
    removals = sorted(
        (i for i in plan.items if i.action == "remove"), key=lambda i: (-i.path.count("/"), i.path)
    )
    restores = sorted((i for i in plan.items if i.action == "restore"), key=lambda i: i.path)
    for item in [i for i in plan.items if i.action == "none"] + removals:
        _apply_one(item, root, force, plan.contents, result, settled)
    dirs = {d for i in plan.items for d in i.created_dirs}
    for folder in sorted(dirs, key=lambda d: (-d.count("/"), d)):
        try:
            remove_at(root, folder, directory=True)  # only succeeds when empty
        except Unreachable:
            pass
    for item in restores:
        _apply_one(item, root, force, plan.contents, result, settled)
    result.undone = [
        cid
        for cid in plan.change_ids
        if all(i.path in settled for i in plan.items if cid in i.change_ids)
    ]
    return result


def _apply_one(
    item: PlanItem,
    root: Path,
    force: bool,
    contents: dict[str, dict[str, Any]],
    result: RollbackResult,
    settled: set[str],
) -> None:
    status, reason, payload = judge_item(item, root, force, contents)
    if status == "unchanged":
        result.unchanged.append(item.path)
    elif status == "too_large":
        result.skipped_too_large.append(item.path)
        return
    elif status == "conflict":
        result.conflicts.append({"path": item.path, "reason": reason})
        return
    else:
        try:
            if item.target is None:
                if not remove_at(root, item.path):
                    raise OSError("could not be removed")
                result.removed.append(item.path)
            else:
                assert (
                    payload is not None
                )  # judge_item returns the content whenever there is a target
                mode = int(item.target["mode"], 8)
                link = payload.decode("utf-8", "surrogateescape") if stat.S_ISLNK(mode) else None
                write_file_at(root, item.path, mode=mode, data=payload, link=link)
                result.restored.append(item.path)
        except (OSError, Unreachable) as error:
            result.conflicts.append({"path": item.path, "reason": f"could not be written: {error}"})
            return
    settled.add(item.path)
