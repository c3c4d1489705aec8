"""`agentctl approve` and `agentctl deny`: decide a pending approval from any terminal."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer

from agentctl.cli import app
from agentctl.cli.options import DbOption, DebugOption, JobArgument, JsonOption, open_store

RequestArgument = Annotated[
    str | None,
    typer.Argument(
        help="The request id (e.g. r12); may be left out when exactly one is pending.",
        metavar="[REQUEST]",
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
) -> None:
    from agentctl.engine.approvals import decide_approval, describe_decider
    from agentctl.times import iso_time

    store = open_store(db, create=False)
    job_id = store.find_job(job)
    record = decide_approval(
        store, job_id, request, decision, by=describe_decider(), comment=comment, now=time.time()
    )
    if json_out:
        shown = {k: record[k] for k in ("request", "step", "tool", "args", "state", "comment")}
        shown.update(
            job=job_id,
            decided_by=record["decided_by"],
            created_at=iso_time(record["created_at"]),
            decided_at=iso_time(record["decided_at"]),
        )
        print(json.dumps(shown, indent=2, ensure_ascii=False))
        return
    print(f"{record['state']} {record['request']} of job {job_id}")
    print(f"continue the job with `agentctl resume {job_id}`")


@app.command()
def approve(
    job: JobArgument,
    request: RequestArgument = None,
    comment: CommentOption = None,
    json_out: JsonOption = False,
    db: DbOption = None,
    debug: DebugOption = False,
) -> None:
    """Approve a pending request of JOB; it is used once, by the next run of the job."""
    _decide(job, request, comment, db, "approve", json_out)


@app.command()
def deny(
    job: JobArgument,
    request: RequestArgument = None,
    comment: CommentOption = None,
    json_out: JsonOption = False,
    db: DbOption = None,
    debug: DebugOption = False,
) -> None:
    """Deny a pending request of JOB; the agent is told (with the comment), the job goes on."""
    _decide(job, request, comment, db, "deny", json_out)
