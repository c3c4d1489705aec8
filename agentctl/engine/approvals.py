"""Approvals: a pending request bound to its job, its key and a hash of the exact action.

A runner that needs a human asks its `approver` (an interactive prompt) when it has one;
otherwise the job parks in `awaiting_approval`. `agentctl approve`/`deny` decide from any
process; the next runner of the job consumes an approval once (`approved` -> `used`).

Batches: when one action of a model turn needs a person, every later action of the same turn
that needs one gets its request too (`Gate.upcoming`), so the turn parks once with all of
them and the prompt can approve them together. Each request stays bound to its own key and
action hash; the actions still run one by one, in the model's order, each using its own.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentctl.engine.journal import Journal, ReplayIndex, new_event
from agentctl.engine.stops import Parked
from agentctl.errors import UsageError
from agentctl.events import (
    TERMINAL_STATES,
    ApprovalAnswer,
    ApprovalDecided,
    ApprovalExpired,
    ApprovalRequested,
    ApprovalState,
    ApprovalUsed,
    ApprovalVoided,
)
from agentctl.store import ApprovalConflict, ApprovalTransition, NewApproval, Store

# An approver is shown the request and answers "approve" or "deny" (or ("deny", reason) when
# the person gave one: the agent is told it); "approve_all" to approve it and every request
# of its batch (the record's `batch`: the same turn's other pending requests); "decided" when
# someone answered it from another process meanwhile; or None when nobody here can answer.
Approver = Callable[[dict[str, Any]], "str | tuple[str, str] | None"]


@dataclass(frozen=True)
class AskRequest:
    """An action that needs a person, before it runs: what a request is made of."""

    step: str
    key: str
    tool: str | None
    args: dict[str, Any]
    reason: str
    rules: list[dict[str, str]] = field(default_factory=list)


# Given the key of the action being asked, the later actions of its turn that need a person.
Upcoming = Callable[[str], Sequence[AskRequest]]


def decision_waiter(
    store: Store, job_id: str, cancel: threading.Event, poll: float = 0.5
) -> Approver:
    """The approver of a runner nobody watches (`run --detach`): it waits, keeping the lease
    and heartbeat, until the request is decided elsewhere (`approve`, `deny`, `watch`) and
    answers "decided"; on a cancel (or a lost lease) it answers None, so the job parks and
    the runner ends it. SIGTERM interrupts the wait like any other (engine/signals.py)."""

    def wait(record: dict[str, Any]) -> str | None:
        seq = store.get_job(job_id)["last_seq"]
        while not cancel.is_set():
            waiting = store.list_approvals(job_id, state=ApprovalState.PENDING)
            if all(a["request"] != record["request"] for a in waiting):
                return ApprovalAnswer.DECIDED
            store.wait_for_events(job_id, seq, timeout=poll)
            seq = store.get_job(job_id)["last_seq"]
        return None

    return wait


def hash_action(tool: str | None, args: dict[str, Any]) -> str:
    canonical = json.dumps({"tool": tool, "args": args}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def describe_decider(via: str = "") -> str:
    """Who decides, for the audit log: `alice (uid 1000) on host` (`, via the prompt`).

    The account is the operating system's (the uid that ran the command), never the
    environment's: `USER=someone-else agentctl approve` must not put another name in the log.
    Names the environment gives (USER, LOGNAME, SUDO_USER...) are kept only as a note.
    """
    uid = os.getuid()
    try:
        account = pwd.getpwuid(uid).pw_name
    except KeyError:  # a uid without a passwd entry (a container): the number says it
        account = f"uid-{uid}"
    said = sorted(
        {
            f"{name}={value}"
            for name in ("USER", "LOGNAME", "LNAME", "USERNAME", "SUDO_USER")
            if (value := os.environ.get(name, "").strip()) and value != account
        }
    )
    note = f" (environment says {', '.join(said)})" if said else ""
    return f"{account} (uid {uid}) on {socket.gethostname()}{note}" + (
        f", via {via}" if via else ""
    )


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
        self.upcoming: Upcoming | None = None  # set by the agent loop for each model turn

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
        digest = hash_action(tool, args)
        record = self._find(key, digest)
        if record is None or record["state"] == ApprovalState.USED:
            record = self._create(
                AskRequest(step, key, tool, args, reason, rules or []), digest=digest
            )
        if record["state"] == ApprovalState.PENDING:
            record = self._ask_person(record, self._open_batch(key))
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

    def _ask_person(self, record: dict[str, Any], batch: list[dict[str, Any]]) -> dict[str, Any]:
        """The approver's answer as the record it leaves; raise Parked with the whole batch
        when nobody here answers."""
        job_id = self.journal.job_id
        if self.approver is not None:
            answer = self.approver({**record, "batch": batch})
            said: str | None = None  # the person's reason, told to the agent on a deny
            if isinstance(answer, tuple):
                answer, said = answer
            if answer in (ApprovalAnswer.APPROVE, ApprovalAnswer.DENY, ApprovalAnswer.APPROVE_ALL):
                everyone = answer == ApprovalAnswer.APPROVE_ALL
                chosen = [record["request"], *(b["request"] for b in batch if everyone)]
                still = {a["request"] for a in self.store.list_approvals(job_id, state="pending")}
                chosen = [request for request in chosen if request in still]
                try:
                    decide_approvals(
                        self.store,
                        job_id,
                        chosen,
                        ApprovalAnswer.DENY
                        if answer == ApprovalAnswer.DENY
                        else ApprovalAnswer.APPROVE,
                        by=describe_decider(via="the prompt"),
                        comment=said or None,
                        now=self.journal.clock(),
                    )
                except UsageError:  # one was decided elsewhere a moment before: that stands
                    pass
            record = self._record(record["request"])
        if record["state"] == ApprovalState.PENDING:
            still = {a["request"] for a in self.store.list_approvals(job_id, state="pending")}
            raise Parked([record, *(b for b in batch if b["request"] in still)])
        return record

    def _open_batch(self, key: str) -> list[dict[str, Any]]:
        """The pending requests of the later actions of this turn that need a person: made
        now (or found, when an earlier runner made them for the same action)."""
        if self.upcoming is None:
            return []
        batch = []
        for ask in self.upcoming(key):
            digest = hash_action(ask.tool, ask.args)
            record = self._find(ask.key, digest)
            if record is None or record["state"] == ApprovalState.USED:
                record = self._create(ask, digest=digest, ahead=True)
            if record["state"] == ApprovalState.PENDING:
                batch.append(record)
        return batch

    def _find(self, key: str, digest: str) -> dict[str, Any] | None:
        """The latest request for this key if it is for this exact action."""
        request = self.index.requests.get(key)
        if request is None or request.action_hash != digest:
            return None
        return self._record(request.request)

    def void_unneeded(self, step: str, key: str) -> None:
        """A request made ahead for a later action of a turn whose decision, when the action
        came (after the earlier ones ran), was allow or deny: void, so it blocks nothing (a
        worker claims a parked job only when none is pending) and counts in no later park."""
        made = self.index.requests.get(key)
        if made is None or not made.ahead:  # others (e.g. an effect's) are not ours
            return
        request = made.request
        if self._record(request)["state"] != ApprovalState.PENDING:
            return
        self.journal.commit()  # what is buffered stays; only the void may fail below
        why = "the policy decided the action itself when its turn came"
        self.journal.add(ApprovalVoided(request=request, why=why), step)
        void = ApprovalTransition(
            request,
            expect=ApprovalState.PENDING,
            state=ApprovalState.VOID,
            now=self.journal.clock(),
        )
        try:
            self.journal.commit(approvals=[void])
        except ApprovalConflict:  # decided a moment before: that decision goes unused
            self.journal.discard()

    def _expired(self, record: dict[str, Any]) -> bool:
        return (
            self.expires_after is not None
            and record["decided_at"] is not None
            and self.journal.clock() - record["decided_at"] > self.expires_after
        )

    def _expire(self, record: dict[str, Any]) -> dict[str, Any]:
        """An approval used too late counts as a deny (the policy's approvals.expires_after)."""
        self.journal.add(ApprovalExpired(request=record["request"]), record["step"])
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

    def _create(self, ask: AskRequest, *, digest: str, ahead: bool = False) -> dict[str, Any]:
        job_id = self.journal.job_id
        # Named after the seq its event gets: short, easy to type, and unique in the job since
        # only the lease holder creates requests and seqs only grow.
        self.journal.commit()
        request = f"r{self.store.get_job(job_id)['last_seq'] + 1}"
        asked = ApprovalRequested(
            request=request,
            key=ask.key,
            tool=ask.tool,
            args=ask.args,
            action_hash=digest,
            reason=ask.reason,
            rules=ask.rules,
            ahead=ahead,  # asked with its turn, before the actions before it ran
        )
        now = self.journal.clock()
        self.journal.add(asked, ask.step)
        self.journal.commit(
            approvals=[
                NewApproval(
                    request=request,
                    step=ask.step,
                    key=ask.key,
                    tool=ask.tool,
                    args=ask.args,
                    action_hash=digest,
                    rules=ask.rules,
                    reason=ask.reason,
                    now=now,
                )
            ]
        )
        self.index.requests[ask.key] = asked
        return next(a for a in self.store.list_approvals(job_id) if a["request"] == request)

    def _consume(self, record: dict[str, Any]) -> None:
        job_id = self.journal.job_id
        self.journal.add(ApprovalUsed(request=record["request"]), record["step"])
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
    if request is None:
        pending = _pending_of(store, job_id)
        if not pending:
            raise _nothing_pending(job_id)
        if len(pending) > 1:
            names = ", ".join(a["request"] for a in pending)
            raise UsageError(
                f"job {job_id} has {len(pending)} pending approvals: {names}",
                f"name one (`agentctl {decision} {job_id} REQUEST`), or decide them all:"
                f" `agentctl {decision} {job_id} --all`",
            )
        request = pending[0]["request"]
    [record] = decide_approvals(store, job_id, [request], decision, by=by, comment=comment, now=now)
    return record


def decide_all(
    store: Store, job_id: str, decision: str, *, by: str, comment: str | None, now: float
) -> list[dict[str, Any]]:
    """`approve/deny JOB --all`: every pending request of the job, decided at once."""
    pending = _pending_of(store, job_id)
    if not pending:
        raise _nothing_pending(job_id)
    requests = [a["request"] for a in pending]
    return decide_approvals(store, job_id, requests, decision, by=by, comment=comment, now=now)


def decide_approvals(
    store: Store,
    job_id: str,
    requests: Sequence[str],
    decision: str,
    *,
    by: str,
    comment: str | None,
    now: float,
) -> list[dict[str, Any]]:
    """Approve or deny pending requests in one transaction: all of them, or none when one
    was decided elsewhere a moment before (ApprovalConflict)."""
    if not requests:
        return []
    pending = {a["request"]: a for a in _pending_of(store, job_id)}
    for request in requests:
        if request not in pending:
            raise UsageError(
                f"job {job_id} has no pending approval {request!r}",
                f"see the pending ones with `agentctl status {job_id}`",
            )
    state = ApprovalState.APPROVED if decision == ApprovalAnswer.APPROVE else ApprovalState.DENIED
    store.append_events(
        job_id,
        [
            new_event(
                ApprovalDecided(request=request, decision=state, by=by, comment=comment),
                pending[request]["step"],
            )
            for request in requests
        ],
        now=now,
        approvals=[
            ApprovalTransition(
                request, expect=ApprovalState.PENDING, state=state, now=now, by=by, comment=comment
            )
            for request in requests
        ],
    )
    records = {a["request"]: a for a in store.list_approvals(job_id)}
    return [records[request] for request in requests]


def _pending_of(store: Store, job_id: str) -> list[dict[str, Any]]:
    state = store.get_job(job_id)["state"]
    if state in TERMINAL_STATES:
        raise UsageError(
            f"job {job_id} already {state}; there is nothing to approve",
            f"see it with `agentctl status {job_id}`",
        )
    return store.list_approvals(job_id, state=ApprovalState.PENDING)


def _nothing_pending(job_id: str) -> UsageError:
    return UsageError(f"job {job_id} has no pending approval", f"see `agentctl status {job_id}`")
