"""Jobs from the outside: create one, describe one, cancel one.

A job row says `running` until its runner ends it; a runner that died cannot say so, so a
`running` job whose lease is dead (pid gone on this host, or lease expired) is shown as
`interrupted`, which is what it is: `resume` continues it at once.
"""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentctl.engine.journal import new_event
from agentctl.errors import JobBusy
from agentctl.events import (
    TERMINAL_STATES,
    ApprovalState,
    CancelRequested,
    JobCancelled,
    JobCreated,
    JobState,
)
from agentctl.policy.votes import rule_object
from agentctl.process.procinfo import current_process, is_process_alive
from agentctl.store import JobUpdate, Schedule, Store, lease_is_live
from agentctl.times import iso_time

if TYPE_CHECKING:
    from agentctl.recipe.load import LoadedRecipe


def new_job_id() -> str:
    return secrets.token_hex(5)


def create_job(
    store: Store,
    loaded: LoadedRecipe,
    *,
    params: Mapping[str, Any],
    workspace: Path,
    options: Mapping[str, Any],
    now: float | None = None,
    job_id: str | None = None,
    queue: str | None = None,
    key: str | None = None,
    schedule: Schedule | None = None,
    shared_workspace: bool = False,
) -> str:
    """Record a new job and return its id: `queued` for a worker of `queue`, else
    `interrupted` until a runner takes it. With a `key` another job has, nothing is made
    and that job's id is returned."""
    job_id = job_id or new_job_id()
    recipe = loaded.recipe
    return store.create_job(
        job_id=job_id,
        recipe=recipe.name,
        recipe_path=str(loaded.path.resolve()) if loaded.path else None,
        recipe_text=loaded.text,
        params=params,
        options=options,
        workspace=str(workspace),
        now=now if now is not None else time.time(),
        queue=queue,
        key=key,
        schedule=schedule,
        shared_workspace=shared_workspace,
        event=new_event(
            JobCreated(
                recipe=recipe.name,
                recipe_path=str(loaded.path) if loaded.path else None,
                params=dict(params),
                workspace=str(workspace),
                steps=[{"id": s.id, "kind": s.kind} for s in recipe.steps],
                key=key,
            )
        ),
    )


def effective_state(
    job: Mapping[str, Any],
    *,
    now: float | None = None,
    host: str | None = None,
    is_alive: Callable[[int, str], bool] = is_process_alive,
) -> str:
    if job["state"] != JobState.RUNNING:
        return str(job["state"])
    live = lease_is_live(
        job["lease_host"],
        job["lease_pid"],
        job["lease_start"],
        job["lease_expires"],
        now=now if now is not None else time.time(),
        host=host or socket.gethostname(),
        is_alive=is_alive,
    )
    return JobState.RUNNING if live else JobState.INTERRUPTED


def steps_ended_as(state: str, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The steps as the job's state says they are: once a job is cancelled, interrupted (its
    runner died) or failed, the step it stopped in (still `running` or `awaiting_approval` in
    the row) ended the same way; a parked job's step is the one awaiting approval."""
    open_states = ("running", "awaiting_approval")
    if state not in ("cancelled", "interrupted", "failed", "awaiting_approval"):
        return steps
    return [
        {**step, "state": state} if step.get("state") in open_states else step for step in steps
    ]


def pending_approvals(store: Store, job_id: str) -> list[dict[str, Any]]:
    """A job's pending approvals in the documented JSON form."""
    return [
        {
            "request": a["request"],
            "step": a["step"],
            "tool": a["tool"],
            "args": a["args"],
            "rules": [rule_object(r) for r in a["rules"] or []],
            "reason": a["reason"],
            "created_at": iso_time(a["created_at"]),
        }
        for a in store.list_approvals(job_id, state=ApprovalState.PENDING)
    ]


def describe_job(store: Store, job: Mapping[str, Any]) -> dict[str, Any]:
    """A job in the documented JSON form."""
    state = effective_state(job)
    # A finished job's unanswered requests can no longer be answered: not "pending".
    pending = [] if state in TERMINAL_STATES else pending_approvals(store, job["id"])
    out: dict[str, Any] = {
        "id": job["id"],
        "state": state,
        "recipe": job["recipe"],
        "recipe_path": job["recipe_path"],
        "workspace": job["workspace"],
        "params": job["params"],
        "created_at": iso_time(job["created_at"]),
        "updated_at": iso_time(job["updated_at"]),
        "steps": steps_ended_as(state, job["steps"]),
        "pending_approvals": pending,
        "usage": {
            "input_tokens": job["input_tokens"],
            "output_tokens": job["output_tokens"],
            "cost_usd": round(job["cost_usd"], 6),
            "model_calls": job["model_calls"],
            "tool_calls": job["tool_calls"],
        },
    }
    if job.get("key") is not None:
        out["key"] = job["key"]
    if state == JobState.RUNNING and pending:  # its runner waits at a person's prompt
        state = out["state"] = JobState.AWAITING_APPROVAL
        out["steps"] = steps_ended_as(state, job["steps"])
        out["runner"] = {"pid": job["lease_pid"], "host": job["lease_host"]}
    if job.get("workspace_lock") is None:
        out["shared_workspace"] = True  # (or a job from before workspaces were locked)
    if state == JobState.RUNNING:
        out["runner"] = {"pid": job["lease_pid"], "host": job["lease_host"]}
    if job.get("queue"):
        out["queue"] = job["queue"]
        # Which worker saw what (a workspace missing on its machine, say).
        notes = store.worker_notes(job["id"])
        if notes:
            out["workers"] = [
                {"worker": n["worker"], "note": n["note"], "at": iso_time(n["at"])} for n in notes
            ]
    if job["error_type"] and state == JobState.FAILED:
        out["error"] = {"type": job["error_type"], "message": job["error_message"]}
    if job["error_type"] and state == JobState.INTERRUPTED:  # why it waits for a resume
        out["interrupted"] = {"type": job["error_type"], "message": job["error_message"]}
    return out


def cancel_job(
    store: Store,
    job_id: str,
    *,
    wait: float = 15.0,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Cancel a job; a live runner is asked to stop at its next safe point.

    Returns the job's state afterwards (`cancelled`, or `running` if its runner has not
    stopped within `wait` seconds). A job that already ended is left as it is, and its
    state returned: cancelling twice is not an error.
    """
    job = store.get_job(job_id)
    if job["state"] in TERMINAL_STATES:
        return str(job["state"])
    from agentctl.engine.approvals import describe_decider

    by = describe_decider(via="agentctl cancel")
    try:
        with holding_lease(store, job_id, clock=clock) as token:
            job = store.get_job(job_id)  # under the lease: the steps as the last runner left them
            store.append_events(
                job_id,
                [new_event(JobCancelled(by=by))],
                now=clock(),
                token=token,
                update=JobUpdate(
                    set={
                        "state": JobState.CANCELLED,
                        "steps": steps_ended_as(JobState.CANCELLED, job["steps"]),
                    }
                ),
            )
        return JobState.CANCELLED
    except JobBusy:
        pass
    store.append_events(
        job_id,
        [new_event(CancelRequested(by=by))],
        now=clock(),
        update=JobUpdate(set={"cancel_requested": 1}),
    )
    deadline = clock() + wait
    while clock() < deadline:
        state = effective_state(store.get_job(job_id))
        if state != JobState.RUNNING:
            return state
        sleep(0.1)
    return JobState.RUNNING


@contextmanager
def holding_lease(
    store: Store, job_id: str, *, ttl: float = 60.0, clock: Callable[[], float] = time.time
) -> Iterator[int]:
    """Hold the job's lease (as this process) for a short piece of work; JobBusy if a live
    runner has it. The fencing token is what the work's appends must name."""
    me = current_process()
    token = store.acquire_lease(
        job_id,
        host=me.host,
        pid=me.pid,
        start=me.start,
        now=clock(),
        ttl=ttl,
        is_alive=is_process_alive,
    )
    try:
        yield token
    finally:
        store.release_lease(job_id, token)


def prune_jobs(
    store: Store, *, older_than: float, now: float | None = None, delete: bool
) -> tuple[list[str], int]:
    """Finished jobs last updated more than `older_than` seconds ago; deleted if `delete`.

    Returns (the job ids, blobs freed). Jobs that are running, paused or resumable are kept.
    """
    now = time.time() if now is None else now
    ids = store.finished_before(now - older_than)
    if not delete or not ids:
        return ids, 0
    _, blobs = store.delete_jobs(ids)
    store.compact()
    for job_id in ids:  # the output of `run --detach` runners on this machine, if any
        (store.logs_dir / f"{job_id}.log").unlink(missing_ok=True)
    return ids, blobs
