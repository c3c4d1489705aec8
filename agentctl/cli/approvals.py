"""`agentctl approve` and `agentctl deny`: decide a pending approval from any terminal."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agentctl.cli.app import app
from agentctl.cli.options import DbOption, DebugOption, JobArgument, JsonOption, open_store

if TYPE_CHECKING:
    from agentctl.engine.continuation import NextStep

RequestArgument = Annotated[
    str | None,
    typer.Argument(
        help="The request id (e.g. r12); may be left out when exactly one is pending.",
        metavar="[REQUEST]",
    ),
]
AllOption = Annotated[
    bool,
    typer.Option(
        "--all",
        help="Decide every pending request of JOB at once (each stays bound to its own action).",
    ),
]
CommentOption = Annotated[
    str | None,
    typer.Option(help="Why; kept in the audit log (and, for deny, told to the agent)."),
]


def _decide(
    job: str,
    request: str | None,
    comment: str | None,
    db: str | None,
    decision: str,
    json_out: bool = False,
    every: bool = False,
) -> None:
    from agentctl.engine.approvals import decide_all, decide_approval, describe_decider
    from agentctl.engine.continuation import continue_after_decision
    from agentctl.errors import UsageError

    store = open_store(db, create=False)
    job_id = store.find_job(job)
    by, now = describe_decider(), time.time()
    if every and request is not None:
        raise UsageError(
            f"give either a REQUEST ({request}) or --all, not both",
            f"`agentctl {decision} {job_id} {request}` decides that one;"
            f" `agentctl {decision} {job_id} --all` every pending one",
        )
    if every:
        records = decide_all(store, job_id, decision, by=by, comment=comment, now=now)
    else:
        records = [
            decide_approval(store, job_id, request, decision, by=by, comment=comment, now=now)
        ]
    after = _next_words(job_id, continue_after_decision(store, job_id))
    if json_out:
        shown = [_as_json(job_id, record) for record in records]
        print(json.dumps(shown if every else shown[0], indent=2, ensure_ascii=False))
        print(after, file=sys.stderr)
        return
    for record in records:
        print(f"{record['state']} {record['request']} of job {job_id}")
    print(after)


def _next_words(job_id: str, step: NextStep) -> str:
    """What happens to the job now, in a line."""
    more = f"; {step.pending} more pending (`agentctl approve {job_id} --all`)"
    if step.kind == "runner":
        where = f"pid {step.pid}" + (f" on {step.host}" if step.host else "")
        return f"its runner ({where}) goes on with it" + (more if step.pending else "")
    if step.kind == "pending":
        return f"the job waits for the rest: {more[2:]}"
    if step.kind == "worker":
        return (
            f"a worker of queue {step.queue!r} goes on with it"
            f" (`agentctl worker --queue {step.queue}` if none is running);"
            f" follow it with `agentctl watch {job_id}`"
        )
    if step.kind == "restarted":
        return (
            f"it goes on in the background (pid {step.pid}; its output goes to"
            f" {step.log_path}); follow it with `agentctl log {job_id} --follow`"
        )
    if step.kind == "ended":
        return f"job {job_id} has ended; see `agentctl status {job_id}`"
    return f"continue the job with `agentctl resume {job_id}`"


def _as_json(job_id: str, record: dict[str, Any]) -> dict[str, Any]:
    from agentctl.times import iso_time

    shown = {k: record[k] for k in ("request", "step", "tool", "args", "state", "comment")}
    shown.update(
        job=job_id,
        decided_by=record["decided_by"],
        created_at=iso_time(record["created_at"]),
        decided_at=iso_time(record["decided_at"]),
    )
    return shown


@app.command()
def approve(
    job: JobArgument,
    request: RequestArgument = None,
    every: AllOption = False,
    comment: CommentOption = None,
    json_out: JsonOption = False,
    db: DbOption = None,
    debug: DebugOption = False,
) -> None:
    """Approve a pending request of JOB (or all of them, --all); each is used once, by the
    action it was asked for."""
    _decide(job, request, comment, db, "approve", json_out, every)


@app.command()
def deny(
    job: JobArgument,
    request: RequestArgument = None,
    every: AllOption = False,
    comment: CommentOption = None,
    json_out: JsonOption = False,
    db: DbOption = None,
    debug: DebugOption = False,
) -> None:
    """Deny a pending request of JOB (or all of them, --all); the agent is told (with the
    comment), the job goes on."""
    _decide(job, request, comment, db, "deny", json_out, every)
