"""`agentctl approve` and `agentctl deny`: decide a pending approval from any terminal."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from agentctl.cli import app
from agentctl.cli.options import DbOption, DebugOption, JobArgument, open_store

RequestArgument = Annotated[
    str | None,
    typer.Argument(
        help="The request id (e.g. r12); may be left out when exactly one is pending.",
        metavar="[REQUEST]",
    ),
]
CommentOption = Annotated[str | None, typer.Option(help="Why; kept in the audit log.")]


def _decide(
    job: str, request: str | None, comment: str | None, db: str | None, decision: str
) -> None:
    from agentctl.engine.approvals import decide_approval, describe_decider

    store = open_store(db)
    job_id = store.find_job(job)
    record = decide_approval(
        store, job_id, request, decision, by=describe_decider(), comment=comment, now=time.time()
    )
    print(f"{record['state']} {record['request']} of job {job_id}")
    print(f"continue the job with `agentctl resume {job_id}`")


@app.command()
def approve(
    job: JobArgument,
    request: RequestArgument = None,
    comment: CommentOption = None,
    db: DbOption = None,
    debug: DebugOption = False,
) -> None:
    """Approve a pending request of JOB; it is used once, by the next run of the job."""
    _decide(job, request, comment, db, "approve")


@app.command()
def deny(
    job: JobArgument,
    request: RequestArgument = None,
    comment: CommentOption = None,
    db: DbOption = None,
    debug: DebugOption = False,
) -> None:
    """Deny a pending request of JOB; the agent is told, the job goes on."""
    _decide(job, request, comment, db, "deny")
