"""Policies that change while a job lives, and old jobs judged by new policies.

- `agentctl policy add JOB POLICY...` appends a `policy_added` event to a job that is
  running, parked or interrupted. A live runner applies it before its next action (its
  heartbeat notices the event, as it notices a cancel); a later runner reads it from the log.
  A pending approval whose action the new rules deny is void.
- A resume re-reads the job's policy files: a file whose text changed since its snapshot is
  added as it is now, beside the snapshot. Added policies vote with the others and the
  strictest decision wins, so nothing ever gets looser without a new approval.
- `agentctl policy replay JOB POLICY...` re-decides every action a job took under other
  policies and lists those whose decision would change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentctl.engine.journal import new_event
from agentctl.engine.policy_files import read_policies
from agentctl.errors import UsageError
from agentctl.events import ApprovalState, ApprovalVoided, EventType, JobInterrupted, JobState
from agentctl.events import PolicyAdded as PolicyAddedEvent
from agentctl.policy.votes import Verdict
from agentctl.store import ApprovalTransition, Event, NewEvent, Store

if TYPE_CHECKING:
    from agentctl.policy.rules import PolicySet

POLICY_ADDED = EventType.POLICY_ADDED
# A job in one of these states may still take actions, so its policies may still change.
LIVE_STATES = (
    JobState.QUEUED,
    JobState.RUNNING,
    JobState.AWAITING_APPROVAL,
    JobState.INTERRUPTED,
)


def policy_snapshots(job: Mapping[str, Any], events: Iterable[Event]) -> list[dict[str, str]]:
    """Every policy text in force for a job: its start-up snapshots, then each one added."""
    snapshots = [dict(s) for s in (job.get("options") or {}).get("policies") or []]
    for event in events:
        if event.type == POLICY_ADDED:
            snapshots.append({"path": event.data.get("path", ""), "text": event.data["text"]})
    return snapshots


def load_policy_set(snapshots: Sequence[Mapping[str, str]]) -> PolicySet:
    from agentctl.policy.rules import PolicySet, load_policy_text

    return PolicySet(
        [load_policy_text(s["text"], s["path"] or "<added policy>") for s in snapshots]
    )


def changed_policy_files(snapshots: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    """Policy files whose current text matches none of the job's snapshots of that path.

    A file that is gone keeps deciding by its snapshot. A changed file that no longer loads
    stops the resume (exit 2): deciding by the old text alone could be looser than intended.
    """
    from agentctl.policy.rules import load_policy_text

    texts: dict[str, set[str]] = {}
    for snapshot in snapshots:
        if snapshot.get("path"):
            texts.setdefault(snapshot["path"], set()).add(snapshot["text"])
    changed = []
    for path, known in texts.items():
        try:
            current = Path(path).read_text(encoding="utf-8")
        except OSError:
            continue
        if current not in known:
            load_policy_text(current, path)  # errors name file:line:column
            changed.append({"path": path, "text": current})
    return changed


@dataclass
class PolicyAdded:
    job_id: str
    policies: list[str]
    voided: list[dict[str, Any]] = field(default_factory=list)


def add_policies(
    store: Store,
    job_id: str,
    files: Sequence[str],
    *,
    by: str,
    now: float,
) -> PolicyAdded:
    """Attach policy files to a live job; void the pending approvals they now deny."""
    job = store.get_job(job_id)
    if job["state"] not in LIVE_STATES:
        raise UsageError(
            f"job {job_id} already {job['state']}; a policy can only be added to a job that"
            " may still act (running, awaiting approval or interrupted)",
            f"check a policy against its history with `agentctl policy replay {job_id} POLICY`",
        )
    added = [{**read, "by": by} for read in read_policies(files, "check the path")]
    snapshots = policy_snapshots(job, store.read_events(job_id, types=[POLICY_ADDED])) + added
    voided = _denied_now(store, job_id, load_policy_set(snapshots), Path(job["workspace"]))
    # A request decided meanwhile fails the whole append (ApprovalConflict): nothing is half-done.
    void = [
        ApprovalTransition(
            item["request"],
            expect=ApprovalState.PENDING,
            state=ApprovalState.VOID,
            now=now,
            by=f"policy add by {by}",
            comment="the added policy denies this action",
        )
        for item in voided
    ]
    events = [
        new_event(PolicyAddedEvent(path=data["path"], text=data["text"], by=data["by"]))
        for data in added
    ]
    events += [
        new_event(
            ApprovalVoided(
                request=item["request"],
                step=item["step"],
                tool=item["tool"],
                args=item["args"],
                rules=item["rules"],
                reason=item["reason"],
            ),
            item["step"],
        )
        for item in voided
    ]
    parked = voided and job["state"] == JobState.AWAITING_APPROVAL
    if parked and _end_the_wait(store, job_id, events, void, voided, now):
        return PolicyAdded(job_id, [a["path"] for a in added], voided)
    store.append_events(job_id, events, now=now, approvals=void)
    return PolicyAdded(job_id, [a["path"] for a in added], voided)


def _denied_now(
    store: Store, job_id: str, policy: PolicySet, workspace: Path
) -> list[dict[str, Any]]:
    """The job's pending approvals whose actions `policy` denies (each as voided)."""
    voided = []
    for approval in store.list_approvals(job_id, state=ApprovalState.PENDING):
        decision = policy.decide(approval["tool"] or "", approval["args"], workspace=workspace)
        if decision.decision == Verdict.DENY:
            voided.append(
                {
                    "request": approval["request"],
                    "step": approval["step"],
                    "tool": approval["tool"],
                    "args": approval["args"],
                    "rules": decision.rule_objects,
                    "reason": decision.reason,
                }
            )
    return voided


def _end_the_wait(
    store: Store,
    job_id: str,
    events: list[NewEvent],
    void: list[ApprovalTransition],
    voided: list[dict[str, Any]],
    now: float,
) -> bool:
    """A parked job whose every pending approval is voided waits for nothing: it becomes
    `interrupted`, saying why and that `resume` continues it (the agent is told each voided
    action is denied). Under the job's lease, so no runner starts meanwhile; False (nothing
    written) when a runner holds the job or another approval is still pending."""
    from agentctl.engine.jobs import holding_lease
    from agentctl.errors import JobBusy
    from agentctl.store import JobUpdate

    requests = ", ".join(item["request"] for item in voided)
    why = (
        f"approval {requests} was voided by an added policy (it denies the action), so"
        f" nothing is left to approve: `agentctl resume {job_id}` continues the job, and"
        " the agent is told the action is denied"
    )
    try:
        with holding_lease(store, job_id) as token:
            job = store.get_job(job_id)
            pending = {a["request"] for a in store.list_approvals(job_id, ApprovalState.PENDING)}
            if job["state"] != JobState.AWAITING_APPROVAL or pending != {
                v["request"] for v in voided
            }:
                return False
            stop = new_event(JobInterrupted(reason=why))
            update = JobUpdate(
                set={
                    "state": JobState.INTERRUPTED,
                    "error_type": "approval_voided",
                    "error_message": why,
                }
            )
            store.append_events(
                job_id, [*events, stop], now=now, token=token, approvals=void, update=update
            )
    except JobBusy:
        return False
    return True


# --- replay ---------------------------------------------------------------------------------


@dataclass
class ReplayedAction:
    seq: int
    step: str | None
    key: str
    tool: str
    args: dict[str, Any]
    ran: bool
    was: str
    now: str
    rules: list[Any]
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "step": self.step,
            "key": self.key,
            "tool": self.tool,
            "args": self.args,
            "ran": self.ran,
            "was": self.was,
            "now": self.now,
            "rules": self.rules,
            "reason": self.reason,
        }


@dataclass
class PolicyReplay:
    job_id: str
    policies: list[str]
    actions: int
    changed: list[ReplayedAction]

    @property
    def ran_now_denied(self) -> list[ReplayedAction]:
        return [a for a in self.changed if a.ran and a.now == Verdict.DENY]

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job_id,
            "policies": self.policies,
            "actions": self.actions,
            "changed": [a.to_dict() for a in self.changed],
            "ran_now_denied": len(self.ran_now_denied),
        }


def replay_policies(store: Store, job_id: str, files: Sequence[str]) -> PolicyReplay:
    """Re-decide every action the job took (or was refused) under the given policy files."""
    from agentctl.policy.rules import PolicySet, load_policy

    if not files:
        raise UsageError(
            "no policy given", f"name one or more: `agentctl policy replay {job_id} POLICY...`"
        )
    policy = PolicySet([load_policy(f) for f in files])
    job = store.get_job(job_id)
    workspace = Path(job["workspace"])
    actions = 0
    changed = []
    acted = [EventType.ACTION_STARTED, EventType.ACTION_FINISHED]
    for event in store.read_events(job_id, types=acted):
        data = event.data
        if event.type == EventType.ACTION_STARTED:
            ran, was = True, data.get("decision") or Verdict.ALLOW
        elif event.type == EventType.ACTION_FINISHED and data.get("refused") and "decision" in data:
            ran, was = False, data["decision"]
        else:
            continue
        actions += 1
        tool, args = data.get("tool") or "", data.get("args") or {}
        decision = policy.decide(tool, args, workspace=workspace, host=data.get("host"))
        if decision.decision != was:
            changed.append(
                ReplayedAction(
                    seq=event.seq,
                    step=event.step,
                    key=data.get("key", ""),
                    tool=tool,
                    args=args,
                    ran=ran,
                    was=was,
                    now=decision.decision,
                    rules=decision.rule_objects,
                    reason=decision.reason,
                )
            )
    return PolicyReplay(job_id, [str(Path(f)) for f in files], actions, changed)
