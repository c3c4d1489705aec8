"""Landing a job's change set in another folder: `agentctl apply JOB`.

A job's log holds every file it changed, before and after (`changes/history.py`), so what a
job did in a worker's workspace (another machine, a clone thrown away) can be put where a
person is, like `git apply`. It is rollback run the other way: each path's net change is
written where the folder still holds what the job started from; a path that holds something
else is a conflict, left alone unless forced, and a path that already holds the result is
counted as done. The same checks and the same symlink-safe writes as rollback.
"""

from __future__ import annotations

from pathlib import Path

from agentctl.changes.history import Change, Plan, PlanItem, judge_item, kept_contents, net_changes

_CONFLICT = "holds something other than what the job started from"


def plan_apply(changes: list[Change], folder: Path) -> Plan:
    """What landing the job's net changes in `folder` would do to each path, checked now."""
    root = Path(folder).resolve()
    contents = kept_contents(changes)
    items: list[PlanItem] = []
    for net in net_changes(changes):
        if net.kind == "renamed" and net.from_path is not None:
            items.append(PlanItem(net.from_path, "remove", None, net.before, [net.id]))
            items.append(PlanItem(net.path, "restore", net.after, None, [net.id]))
        else:
            action = "remove" if net.after is None else "restore"
            items.append(PlanItem(net.path, action, net.after, net.before, [net.id]))
    for item in items:
        item.status, item.reason, _ = judge_item(item, root, False, contents)
        if item.status == "conflict" and "since" in item.reason:
            item.reason = _CONFLICT
        if item.status == "too_large":
            item.reason = "its content after the job was not kept (over changes.max_file_size)"
    return Plan(None, sorted(items, key=lambda i: i.path), [c.id for c in changes], contents)
