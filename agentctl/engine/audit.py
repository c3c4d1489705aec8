"""The audit log as evidence: checking a job's hash-chained log (`agentctl log JOB --verify`).

The chain itself is made by the store as each event is appended (`store/chain.py`); here a
job's stored events are held against it, and the first event changed or removed is named.
"""

from __future__ import annotations

from agentctl.errors import AgentctlError
from agentctl.store import Store
from agentctl.store.chain import ChainReport, verify_chain


def verify_job_log(store: Store, job_id: str) -> ChainReport:
    """Check every event of the job against its hash and the job's count of events."""
    events, last_seq = store.stored_events(job_id)
    return verify_chain(job_id, events, last_seq, store.get_blob)


def describe_report(report: ChainReport) -> list[str]:
    """An intact log's report for people (one line, and the head hash to keep)."""
    text = f"job {report.job_id}: {report.events} events, the hash chain is intact"
    if report.unchained:
        text += (
            f"; {report.unchained} events written before the chain existed (by an older"
            " agentctl) are unchained and were not checked"
        )
    lines = [text]
    if report.head:
        lines.append(f"head sha256:{report.head} (keep it elsewhere to pin this log)")
    return lines


def tampered_error(report: ChainReport) -> AgentctlError:
    """The error (exit 1) that names the first event changed, removed or added."""
    problem = report.problem or {}
    seq = problem.get("seq")
    kind = f" ({problem['type']})" if problem.get("type") else ""
    return AgentctlError(
        f"the log of job {report.job_id} is not intact: event {seq}{kind} was"
        f" {problem.get('what')}: {problem.get('detail')}",
        f"the log from event {seq} on cannot be trusted; compare it with a backup of the"
        " database, or with a head hash kept from an earlier"
        f" `agentctl log {report.job_id} --verify`",
        exit_code=1,
    )
