"""The SQL pieces of `SqlStore` (store/sqlstore.py): the columns of a job and an approval, the
SQL of a runnable job, of an append's job update and of reading events, and the errors a store
raises alike. Written with `?` placeholders; a dialect translates them if its driver wants.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence, Sized
from typing import Any

from agentctl.errors import JobBusy, JobNotFound, LeaseLost, UsageError
from agentctl.store.base import (
    ADDABLE,
    SETTABLE,
    ApprovalChange,
    ApprovalConflict,
    IsAlive,
    JobUpdate,
    NewApproval,
    lease_is_live,
)
from agentctl.store.chain import StoredEvent
from agentctl.store.codec import dumps
from agentctl.store.dialect import Tx

JOB_COLUMNS = (
    "id",
    "recipe",
    "recipe_path",
    "recipe_blob",
    "params",
    "options",
    "workspace",
    "state",
    "created_at",
    "updated_at",
    "last_seq",
    "steps",
    "error_type",
    "error_message",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "model_calls",
    "tool_calls",
    "lease_token",
    "lease_pid",
    "lease_host",
    "lease_start",
    "lease_expires",
    "heartbeat_at",
    "cancel_requested",
    "queue",
    "key",
    "priority",
    "not_before",
    "takeovers",
    "workspace_lock",
)
JSON_COLUMNS = ("params", "options", "steps")
APPROVAL_COLUMNS = (
    "request",
    "step",
    "key",
    "tool",
    "args",
    "action_hash",
    "rules",
    "reason",
    "state",
    "created_at",
    "decided_at",
    "decided_by",
    "comment",
)

# Which jobs a worker may take, and why (the same on every backend; `?` is `now`, twice).
# A claim orders by this and skips jobs whose `not_before` is still ahead (a `?`: now).
CLAIM_ORDER = "priority DESC, created_at, id"
DUE = "(not_before IS NULL OR not_before <= ?)"
# Claims that take a job over from a runner that died without a word (its lease ran out):
# counted, so a job that kills every runner it gets is failed after a few instead of taken
# over for ever. A job a stopping worker left `interrupted` is not counted.
TAKEOVERS = ("lease_expired",)
RUNNABLE = (
    # The states first, on their own: then the planner finds the candidates by the
    # `jobs_runnable (state, queue)` index, not by reading every finished job of the queue
    # (SQLite: a look for work on 5,000 finished jobs took 2.5 ms instead of 0.014).
    "state IN ('queued', 'interrupted', 'running', 'awaiting_approval')"
    " AND (lease_pid IS NULL OR lease_expires < ?)"
    " AND (state IN ('queued', 'interrupted')"
    "  OR (state = 'running' AND lease_expires < ?)"
    "  OR (state = 'awaiting_approval' AND NOT EXISTS"
    "   (SELECT 1 FROM approvals a WHERE a.job_id = jobs.id AND a.state = 'pending')))"
)
# A job whose workspace another job's runner holds waits (`?`: now). Only expiry frees it
# here: a worker cannot look at another host's pids (acquire_lease can, on its own host).
WORKSPACE_FREE = (
    "(jobs.workspace_lock IS NULL OR NOT EXISTS (SELECT 1 FROM jobs o"
    " WHERE o.workspace_lock = jobs.workspace_lock AND o.workspace_held = 1"
    " AND o.id <> jobs.id AND o.lease_pid IS NOT NULL AND o.lease_expires >= ?))"
)
# The jobs whose runner may hold a workspace (`?`: the workspace, the asking job's id).
WORKSPACE_HOLDERS = (
    "SELECT id, lease_pid, lease_host, lease_start, lease_expires FROM jobs"
    " WHERE workspace_lock = ? AND workspace_held = 1 AND id <> ? AND lease_pid IS NOT NULL"
)
# A queue's limits (`agentctl queue`): at most `max_running` of its jobs held by a live lease,
# at most `max_starts` claims in the last `per_seconds` (`?`: now, twice). No row: no limits.
QUEUE_OPEN = (
    "NOT EXISTS (SELECT 1 FROM queue_limits q WHERE q.queue = jobs.queue AND ("
    "(q.max_running IS NOT NULL AND (SELECT count(*) FROM jobs r WHERE r.queue = q.queue"
    " AND r.lease_pid IS NOT NULL AND r.lease_expires >= ?) >= q.max_running)"
    " OR (q.max_starts IS NOT NULL AND (SELECT count(*) FROM jobs s WHERE s.queue = q.queue"
    " AND s.claimed_at > ? - q.per_seconds) >= q.max_starts)))"
)
# Each queue's limits with its jobs running now and started within its window (`?`: now, twice).
QUEUE_LIMITS = (
    "SELECT q.queue, q.max_running, q.max_starts, q.per_seconds,"
    " (SELECT count(*) FROM jobs r WHERE r.queue = q.queue AND r.lease_pid IS NOT NULL"
    "  AND r.lease_expires >= ?),"
    " (SELECT count(*) FROM jobs s WHERE s.queue = q.queue"
    "  AND s.claimed_at > ? - coalesce(q.per_seconds, 0))"
    " FROM queue_limits q ORDER BY q.queue"
)
SET_QUEUE_LIMIT = (
    "INSERT INTO queue_limits (queue, max_running, max_starts, per_seconds) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (queue) DO UPDATE SET max_running = excluded.max_running,"
    " max_starts = excluded.max_starts, per_seconds = excluded.per_seconds"
)
# The seq of a job's last added policy (a warm worker's beat passes it to the job's runner).
LAST_POLICY_SEQ = (
    "(SELECT max(e.seq) FROM events e WHERE e.job_id = jobs.id AND e.type = 'policy_added')"
)
RUNNABLE_REASON = (
    "CASE state WHEN 'queued' THEN 'queued' WHEN 'awaiting_approval' THEN 'approved'"
    " WHEN 'running' THEN 'lease_expired' ELSE 'interrupted' END"
)


def marks(values: Sized) -> str:
    """`?, ?, ?`: one placeholder for each of `values` (an IN list)."""
    return ", ".join("?" * len(values))


def update_clauses(update: JobUpdate | None) -> tuple[list[str], list[Any]]:
    """The SET clauses of an append (after `last_seq` and `updated_at`) and their values."""
    sets = ["last_seq = last_seq + ?", "updated_at = ?"]
    values: list[Any] = []
    if update:
        for column, value in update.set.items():
            if column not in SETTABLE:
                raise ValueError(column)
            sets.append(f"{column} = ?")
            values.append(dumps(value) if column in JSON_COLUMNS else value)
        for column, amount in update.add.items():
            if column not in ADDABLE:
                raise ValueError(column)
            sets.append(f"{column} = {column} + ?")
            values.append(amount)
    return sets, values


def events_query(
    job_id: str, after_seq: int, limit: int | None, types: Collection[str] | None
) -> tuple[str, list[Any]]:
    """The SELECT of `read_events` and its values; with `types`, the `events_type` index
    finds the rows, so the job's other events are not read."""
    sql = "SELECT seq, ts, type, step, data FROM events WHERE job_id = ? AND seq > ?"
    args: list[Any] = [job_id, after_seq]
    if types is not None:
        sql += f" AND type IN ({marks(types)})"
        args.extend(str(t) for t in types)
    sql += " ORDER BY seq"
    if limit:
        sql += " LIMIT ?"
        args.append(limit)
    return sql, args


# The SELECT of `stored_events`: the job's events as stored, each with the job's count of
# them, in one statement (one snapshot on every backend); a job without events gives one row
# of NULLs, no job no row.
CHAIN_QUERY = (
    "SELECT e.seq, e.ts, e.type, e.step, e.data, e.hash, j.last_seq FROM jobs j"
    " LEFT JOIN events e ON e.job_id = j.id WHERE j.id = ? ORDER BY e.seq"
)


def stored_chain(job_id: str, rows: Sequence[Sequence[Any]]) -> tuple[list[StoredEvent], int]:
    """`stored_events`' answer from the rows of CHAIN_QUERY."""
    if not rows:
        raise job_not_found(job_id)
    events = [StoredEvent(*row[:6]) for row in rows if row[0] is not None]
    return events, int(rows[0][6])


def hash_of(tx: Tx, job_id: str, seq: int) -> str | None:
    """The hash of event `seq` of the job (what the next event chains to)."""
    row = tx.one("SELECT hash FROM events WHERE job_id = ? AND seq = ?", (job_id, seq))
    return row[0] if row else None


def apply_approval(tx: Tx, job_id: str, change: ApprovalChange) -> None:
    """Apply one typed approval change inside an append's transaction; a transition that finds
    the approval in another state than it expects raises ApprovalConflict."""
    if isinstance(change, NewApproval):
        tx.run(
            "INSERT INTO approvals (job_id, request, step, key, tool, args, action_hash, rules,"
            " reason, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
            (
                job_id,
                change.request,
                change.step,
                change.key,
                change.tool,
                dumps(dict(change.args)),
                change.action_hash,
                dumps(change.rules),
                change.reason,
                change.now,
            ),
        )
        return
    if change.state in ("approved", "denied", "void"):
        changed = tx.run(
            "UPDATE approvals SET state = ?, decided_at = ?, decided_by = ?, comment = ?"
            " WHERE job_id = ? AND request = ? AND state = ?",
            (
                change.state,
                change.now,
                change.by,
                change.comment,
                job_id,
                change.request,
                change.expect,
            ),
        )
    else:
        changed = tx.run(
            "UPDATE approvals SET state = ? WHERE job_id = ? AND request = ? AND state = ?",
            (change.state, job_id, change.request, change.expect),
        )
    if changed != 1:
        raise ApprovalConflict(job_id, change.request, change.expect)


def approval_dict(row: Sequence[Any]) -> dict[str, Any]:
    item = dict(zip(APPROVAL_COLUMNS, row))
    item["args"] = json.loads(item["args"])
    item["rules"] = json.loads(item["rules"])
    return item


def job_not_found(job_id: str) -> JobNotFound:
    return JobNotFound(f"no job {job_id!r}", "list jobs with `agentctl jobs`")


def pick_job(ref: str, ids: list[str]) -> str:
    """The one job `ref` names among the ids that start with it (newest first)."""
    if not ids:
        raise JobNotFound(f"no job matches {ref!r}", "list jobs with `agentctl jobs`")
    if ref in ids:
        return ref
    if len(ids) > 1:
        raise UsageError(
            f"{ref!r} matches several jobs: {', '.join(ids[:5])}",
            "type more characters of the job id",
        )
    return ids[0]


def lease_lost(job_id: str) -> LeaseLost:
    return LeaseLost(
        f"job {job_id} was taken over by another runner; this runner stops",
        f"see `agentctl status {job_id}`",
    )


def live_holder(
    rows: Sequence[Sequence[Any]], *, now: float, host: str, is_alive: IsAlive
) -> dict[str, Any] | None:
    """Of WORKSPACE_HOLDERS' rows, the first whose runner is alive: {id, pid, host}."""
    for job_id, pid, holder_host, start, expires in rows:
        if lease_is_live(holder_host, pid, start, expires, now=now, host=host, is_alive=is_alive):
            return {"id": job_id, "pid": pid, "host": holder_host}
    return None


def job_busy(job_id: str, pid: int, host: str | None) -> JobBusy:
    return JobBusy(
        f"job {job_id} is already being run by pid {pid} on {host}",
        f"watch it with `agentctl status {job_id}`, or stop it with `agentctl cancel {job_id}`",
    )
