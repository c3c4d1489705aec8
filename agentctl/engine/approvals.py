"""Approvals: a pending request bound to its job, its key and a hash of the exact action.

A runner that needs a human asks its `approver` (an interactive prompt) when it has one;
otherwise the job parks in `awaiting_approval`. `agentctl approve`/`deny` decide from any
process; the next runner of the job consumes an approval once (`approved` -> `used`).
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import socket
from collections.abc import Callable
from typing import Any

from agentctl.engine.journal import Journal, ReplayIndex
from agentctl.engine.stops import Parked
from agentctl.errors import UsageError
from agentctl.events import TERMINAL_STATES, ApprovalAnswer, ApprovalState, EventType
from agentctl.store import ApprovalConflict, ApprovalTransition, NewApproval, NewEvent, Store

# An approver is shown the request and answers "approve" or "deny" (or ("deny", reason) when
# the person gave one: the agent is told it); "decided" when someone answered it from another
# process meanwhile; or None when nobody here can answer.
Approver = Callable[[dict[str, Any]], "str | tuple[str, str] | None"]


def hash_action(tool: str | None, args: dict[str, Any]) -> str:
    canonical = json.dumps({"tool": tool, "args": args}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def describe_decider(via: str = "") -> str:
    """Who decides, for the audit log: `alice (uid 1000) on host` (`, via the prompt`)."""
    try:
        user = getpass.getuser()
    except Exception:
        user = "unknown"
    return f"{user} (uid {os.getuid()}) on {socket.gethostname()}" + (f", via {via}" if via else "")


def decider_name(decided_by: str | None) -> str:
    """The person's name out of `describe_decider`'s text: what "denied by alice" shows."""
    return (decided_by or "").split(" (")[0].strip() or "a person"


def person_denial(record: dict[str, Any]) -> str:
    """`denied by alice` or `denied by alice: <comment>`: a person's deny in their words."""
    comment = " ".join(str(record.get("comment") or "").split())
    return f"denied by {decider_name(record.get('decided_by'))}" + (
        f": {comment}" if comment else ""
    )


class Gate:
    """Asks for approvals on behalf of one runner."""

    def __init__(
        self,
        store: Store,
        journal: Journal,
        index: ReplayIndex,
        approver: Approver | None,
        expires_after: float | None = None,
    ):
        self.store = store
        self.journal = journal
        self.index = index
        self.approver = approver
        self.expires_after = expires_after  # the policy's approvals.expires_after, seconds

    def require(
        self,
        *,
        step: str,
        key: str,
        tool: str | None,
        args: dict[str, Any],
        reason: str,
        rules: list[dict[str, str]] | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """Return ("approve" | "deny", the approval record), or raise Parked."""
        job_id = self.journal.job_id
        digest = hash_action(tool, args)
        request = self.index.requests.get(key)
        record = None
        if request is not None and request.get("action_hash") == digest:
            record = next(
                (
                    a
                    for a in self.store.list_approvals(job_id)
                    if a["request"] == request["request"]
                ),
                None,
            )
        if record is None or record["state"] == ApprovalState.USED:
            record = self._create(
                step=step,
                key=key,
                tool=tool,
                args=args,
                digest=digest,
                reason=reason,
                rules=rules or [],
            )
        if record["state"] == ApprovalState.PENDING and self.approver is not None:
            answer = self.approver(record)
            said: str | None = None  # the person's reason, told to the agent on a deny
            if isinstance(answer, tuple):
                answer, said = answer
            if answer in (ApprovalAnswer.APPROVE, ApprovalAnswer.DENY):
                record = decide_approval(
                    self.store,
                    job_id,
                    record["request"],
                    answer,
                    by=describe_decider(via="the prompt"),
                    comment=said or None,
                    now=self.journal.clock(),
                )
            elif answer == ApprovalAnswer.DECIDED:  # answered from elsewhere meanwhile
                record = self._record(record["request"])
        if record["state"] == ApprovalState.PENDING:
            raise Parked([record])
        if (
            record["state"] == ApprovalState.APPROVED
            and not (record.get("decided_by") or "").strip()
        ):
            # Only `agentctl approve` and the prompt approve, and both record who did: a row
            # without an approver was written some other way (straight into the database).
            refused = dict(record)
            refused["decided_by"] = "nobody: an approval without an approver is refused"
            return ApprovalAnswer.DENY, refused
        if record["state"] == ApprovalState.APPROVED and self._expired(record):
            return ApprovalAnswer.DENY, self._expire(record)
        if record["state"] == ApprovalState.APPROVED:
            self._consume(record)
            return ApprovalAnswer.APPROVE, record
        return ApprovalAnswer.DENY, record

    def _expired(self, record: dict[str, Any]) -> bool:
        return (
            self.expires_after is not None
            and record["decided_at"] is not None
            and self.journal.clock() - record["decided_at"] > self.expires_after
        )

    def _expire(self, record: dict[str, Any]) -> dict[str, Any]:
        """An approval used too late counts as a deny (the policy's approvals.expires_after)."""
        self.journal.add(EventType.APPROVAL_EXPIRED, record["step"], {"request": record["request"]})
        self.journal.commit(
            approvals=[
                ApprovalTransition(
                    record["request"],
                    expect=ApprovalState.APPROVED,
                    state=ApprovalState.EXPIRED,
                    now=self.journal.clock(),
                )
            ]
        )
        expired = self._record(record["request"])
        expired["decided_by"] = f"expiry (approved by {record['decided_by']} too long ago)"
        return expired

    def _record(self, request: str) -> dict[str, Any]:
        return next(
            a for a in self.store.list_approvals(self.journal.job_id) if a["request"] == request
        )

    def _create(
        self,
        *,
        step: str,
        key: str,
        tool: str | None,
        args: dict[str, Any],
        digest: str,
        reason: str,
        rules: list[dict[str, str]],
    ) -> dict[str, Any]:
        job_id = self.journal.job_id
        # Named after the seq its event gets: short, easy to type, and unique in the job since
        # only the lease holder creates requests and seqs only grow.
        self.journal.commit()
        request = f"r{self.store.get_job(job_id)['last_seq'] + 1}"
        data = {
            "request": request,
            "key": key,
            "tool": tool,
            "args": args,
            "action_hash": digest,
            "reason": reason,
            "rules": rules,
        }
        now = self.journal.clock()
        self.journal.add(EventType.APPROVAL_REQUESTED, step, data)
        self.journal.commit(
            approvals=[
                NewApproval(
                    request=request,
                    step=step,
                    key=key,
                    tool=tool,
                    args=args,
                    action_hash=digest,
                    rules=rules,
                    reason=reason,
                    now=now,
                )
            ]
        )
        self.index.requests[key] = data
        return next(a for a in self.store.list_approvals(job_id) if a["request"] == request)

    def _consume(self, record: dict[str, Any]) -> None:
        job_id = self.journal.job_id
        self.journal.add(EventType.APPROVAL_USED, record["step"], {"request": record["request"]})
        use = ApprovalTransition(
            record["request"],
            expect=ApprovalState.APPROVED,
            state=ApprovalState.USED,
            now=self.journal.clock(),
        )
        try:
            self.journal.commit(approvals=[use])
        except ApprovalConflict:
            raise UsageError(
                f"approval {record['request']} was already used",
                f"see `agentctl status {job_id}`",
            ) from None


def decide_approval(
    store: Store,
    job_id: str,
    request: str | None,
    decision: str,
    *,
    by: str,
    comment: str | None,
    now: float,
) -> dict[str, Any]:
    """Approve or deny a pending request (the only one when `request` is None)."""
    state = store.get_job(job_id)["state"]
    if state in TERMINAL_STATES:
        raise UsageError(
            f"job {job_id} already {state}; there is nothing to approve",
            f"see it with `agentctl status {job_id}`",
        )
    pending = store.list_approvals(job_id, state=ApprovalState.PENDING)
    if request is None:
        if not pending:
            raise UsageError(
                f"job {job_id} has no pending approval", f"see `agentctl status {job_id}`"
            )
        if len(pending) > 1:
            names = ", ".join(a["request"] for a in pending)
            raise UsageError(
                f"job {job_id} has {len(pending)} pending approvals: {names}",
                f"name one: `agentctl {decision} {job_id} REQUEST`",
            )
        request = pending[0]["request"]
    match = next((a for a in pending if a["request"] == request), None)
    if match is None:
        raise UsageError(
            f"job {job_id} has no pending approval {request!r}",
            f"see the pending ones with `agentctl status {job_id}`",
        )
    state = ApprovalState.APPROVED if decision == ApprovalAnswer.APPROVE else ApprovalState.DENIED
    # Raises ApprovalConflict ("no longer pending") when someone decided it a moment before.
    store.append(
        job_id,
        [
            NewEvent(
                EventType.APPROVAL_DECIDED,
                match["step"],
                {"request": request, "decision": state, "by": by, "comment": comment},
            )
        ],
        now=now,
        approvals=[
            ApprovalTransition(
                request, expect=ApprovalState.PENDING, state=state, now=now, by=by, comment=comment
            )
        ],
    )
    return next(a for a in store.list_approvals(job_id) if a["request"] == request)
