"""A job's recorded file changes from the outside: show them, and roll them back.

Rollback takes the job's lease, as cancel does, so no runner can act on the workspace while
files are put back; a job whose runner is alive is refused (JobBusy, exit 2). The log records
the attempt before any file is touched (`rollback_started`, durably) and the outcome after
(`rollback`, naming the changes undone so they are never undone twice). A rollback cut short
leaves no harm behind: run again, a path already put back matches its target and is skipped.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentctl.changes.history import Change, Plan, RollbackResult, collect_changes, plan_rollback
from agentctl.engine.jobs import holding_lease
from agentctl.engine.journal import new_event
from agentctl.errors import JobBusy, UsageError
from agentctl.events import EventType, Rollback, RollbackStarted
from agentctl.process.procinfo import is_process_alive
from agentctl.store import Store, lease_is_live


def step_order(events: list[Any]) -> list[str]:
    """The recipe's step ids in order, as recorded when the job was created."""
    for event in events:
        if event.type == EventType.JOB_CREATED:
            return [step["id"] for step in event.data.get("steps") or []]
    return []


def _check_step(step: str | None, order: list[str]) -> None:
    if step is not None and step not in order:
        raise UsageError(
            f"unknown step {step!r}", "steps of this job: " + (", ".join(order) or "none")
        )


def diff_job(store: Store, job_id: str, step: str | None = None) -> list[Change]:
    """The job's changes that still stand (not rolled back), in log order; only `step`'s if
    given."""
    events = store.read_events(job_id)
    _check_step(step, step_order(events))
    changes = [c for c in collect_changes(events) if c.rolled_back_by is None]
    return [c for c in changes if step is None or c.step == step]


def _busy(job_id: str, pid: Any, host: Any) -> JobBusy:
    return JobBusy(
        f"job {job_id} is running (pid {pid} on {host}); its files cannot be rolled back under it",
        f"stop it first with `agentctl cancel {job_id}`",
    )


def rollback_job(
    store: Store,
    job_id: str,
    *,
    to_step: str | None = None,
    force: bool = False,
    dry_run: bool = False,
    clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """Roll back the job's file changes (from `to_step` on); with `dry_run`, only say what
    would happen. Returns `describe_rollback`'s dict."""
    job = store.get_job(job_id)
    _check_step(to_step, step_order(store.read_events(job_id, limit=1)))
    if dry_run:
        # Only a look, so no lease is taken; but a plan for a job still changing is no use.
        # The lease, not the state: `running` may not be written yet by a runner that holds it.
        if lease_is_live(
            job["lease_host"],
            job["lease_pid"],
            job["lease_start"],
            job["lease_expires"],
            now=clock(),
            host=socket.gethostname(),
            is_alive=is_process_alive,
        ):
            raise _busy(job_id, job["lease_pid"], job["lease_host"])
        events = store.read_events(job_id)
        plan = plan_rollback(
            collect_changes(events),
            Path(job["workspace"]),
            to_step=to_step,
            step_order=step_order(events),
        )
        return describe_rollback(job_id, plan, None, force=force)
    try:
        with holding_lease(store, job_id, clock=clock) as token:
            return rollback_with_lease(
                store, job_id, token=token, to_step=to_step, force=force, clock=clock
            )
    except JobBusy:
        job = store.get_job(job_id)
        raise _busy(job_id, job["lease_pid"], job["lease_host"]) from None


def rollback_with_lease(
    store: Store,
    job_id: str,
    *,
    token: int,
    to_step: str | None = None,
    force: bool = False,
    clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """Roll back as the holder of the job's lease `token`: `rollback_job` once it has taken
    the lease, or a runner undoing its own job (`on_failure: rollback`)."""
    from agentctl.changes.history import apply_rollback

    job = store.get_job(job_id)
    events = store.read_events(job_id)  # read under the lease: nobody else appends now
    plan = plan_rollback(
        collect_changes(events),
        Path(job["workspace"]),
        to_step=to_step,
        step_order=step_order(events),
    )
    if not plan.items:
        return describe_rollback(job_id, plan, None, force=force)
    store.append_events(
        job_id,
        [
            new_event(
                RollbackStarted(
                    to_step=to_step, paths=[item.path for item in plan.items], forced=force
                )
            )
        ],
        now=clock(),
        token=token,
        durable=True,
    )
    result = apply_rollback(plan, Path(job["workspace"]), force=force)
    store.append_events(
        job_id, [new_event(_rolled_back(to_step, result, force=force))], now=clock(), token=token
    )
    return describe_rollback(job_id, plan, result, force=force)


def _rolled_back(to_step: str | None, result: RollbackResult, *, force: bool) -> Rollback:
    """The `rollback` event of a rollback that ran: what it put back, and what it could not."""
    return Rollback(
        to_step=to_step,
        restored=result.restored,
        removed=result.removed,
        conflicts=result.conflicts,
        skipped_too_large=result.skipped_too_large,
        unchanged=result.unchanged,
        changes=result.undone,
        forced=force,
    )


def describe_rollback(
    job_id: str, plan: Plan, result: RollbackResult | None, *, force: bool
) -> dict[str, Any]:
    """The plan (and, once applied, the outcome) as JSON: what `rollback --json` prints."""
    out: dict[str, Any] = {
        "job": job_id,
        "to_step": plan.to_step,
        "dry_run": result is None,
        "forced": force,
        "plan": [
            {
                "path": i.path,
                "action": i.action,
                "steps": i.steps,
                "status": i.status,
                "reason": i.reason,
            }
            for i in plan.items
        ],
    }
    if result is not None:
        out.update({k: v for k, v in result.to_dict().items() if k != "undone"})
        out["changes_undone"] = len(result.undone)
    return out


def apply_job(
    store: Store, job_id: str, folder: Path, *, force: bool = False, dry_run: bool = False
) -> dict[str, Any]:
    """Land the job's change set (what its files add up to) in `folder`, where a person is:
    the job's workspace may have been a worker's clone on another machine. Nothing of the
    job changes; `describe_rollback`'s form, with the folder."""
    from agentctl.changes.history import apply_rollback
    from agentctl.changes.landing import plan_apply

    changes = [c for c in collect_changes(store.read_events(job_id)) if c.rolled_back_by is None]
    plan = plan_apply(changes, folder)
    result = None if dry_run or not plan.items else apply_rollback(plan, folder, force=force)
    out = describe_rollback(job_id, plan, result, force=force)
    out["dry_run"] = dry_run
    out["folder"] = str(Path(folder).resolve())
    out.pop("to_step", None)
    out.pop("changes_undone", None)
    return out
