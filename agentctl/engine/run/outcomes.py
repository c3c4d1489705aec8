"""How a run ends: one table from the way the steps loop stopped (an exception, or none) to
the job's end: its state (and with it the exit code), the event that says so, and what is
raised after it is written.

Read top to bottom, the first row whose exception type matches decides. A stop that is no
fault of the job (Ctrl-C, SIGTERM, a lost database, a bug in agentctl) leaves it
resumable (`interrupted`); a failure of the job ends it `failed`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agentctl.engine.run.deps import Outcome
from agentctl.engine.run.state import RunState
from agentctl.engine.signals import Interrupt, signals_ignored
from agentctl.engine.stops import Cancelled, JobFailure, Parked
from agentctl.errors import AgentctlError, LeaseLost
from agentctl.events import (
    EXIT_CODES,
    JobCancelled,
    JobEvent,
    JobFailed,
    JobInterrupted,
    JobPaused,
    JobState,
    JobSucceeded,
    StepState,
)
from agentctl.store import StoreUnavailable


@dataclass(frozen=True)
class Ending:
    """What a stop does to the job. `state` None: the job's end is not written (another
    runner has it). `raises`: raised once the end is written (the stop itself to re-raise)."""

    state: JobState | None
    event: JobEvent | None = None
    error: dict[str, str] | None = None  # the job's error_type and error_message
    pending: list[dict[str, Any]] = field(default_factory=list)  # the approvals it waits for
    raises: BaseException | None = None
    discard: bool = False  # drop the events not yet written (they may be half an action)
    best_effort: bool = False  # the database may be gone: a failed write is no news
    shielded: bool = False  # a second Ctrl-C must not cut the write short


SUCCEEDED = Ending(JobState.SUCCEEDED, JobSucceeded())
CANCELLED = Ending(JobState.CANCELLED, JobCancelled(by="cancel request"))


def interrupted(reason: str, **how: Any) -> Ending:
    return Ending(JobState.INTERRUPTED, JobInterrupted(reason=reason), **how)


def failed(kind: str, message: str) -> Ending:
    error = {"type": kind, "message": message}
    return Ending(JobState.FAILED, JobFailed(error=error), error=dict(error))


def _parked(run: RunState, stop: Parked) -> Ending:
    if run.cancel.is_set() or run.store.cancel_requested(run.job_id):
        return CANCELLED
    requests = [p["request"] for p in stop.requests]
    return Ending(JobState.AWAITING_APPROVAL, JobPaused(requests=requests), pending=stop.requests)


def _cancelled(run: RunState, stop: Cancelled) -> Ending:
    """A cancel, or the heartbeat stopping the tools: the database stayed away, or another
    runner took the lease."""
    if run.heartbeat.store_lost:
        lost = StoreUnavailable(
            f"lost the database while job {run.job_id} ran: its tools were stopped"
            " before its lease could lapse",
            f"the job stays resumable: once the database is back, `agentctl resume"
            f" {run.job_id}` (or a worker) continues it",
            exit_code=130,
        )
        return interrupted("lost the database", raises=lost, discard=True, best_effort=True)
    if run.heartbeat.lease_lost:
        taken = LeaseLost(
            f"job {run.job_id} was taken over by another runner",
            f"see `agentctl status {run.job_id}`",
        )
        return Ending(None, raises=taken)
    return CANCELLED


def _interrupted(run: RunState, stop: BaseException) -> Ending:
    return interrupted("interrupted", shielded=True)


def _lease_lost(run: RunState, stop: LeaseLost) -> Ending:
    return Ending(None, raises=stop)


def _store_lost(run: RunState, stop: StoreUnavailable) -> Ending:
    """The database went away for longer than the store retries: the end is written if it
    is back, else the lease runs out and the job shows (and resumes) as interrupted."""
    return interrupted("lost the database", raises=stop, discard=True, best_effort=True)


def _failed(run: RunState, stop: JobFailure) -> Ending:
    return failed(stop.type, stop.message)


def _refused(run: RunState, stop: AgentctlError) -> Ending:
    """An error a user can fix: exit 1 fails the job, others (a bad setup) interrupt it."""
    if stop.exit_code == 1:
        return failed(type(stop).__name__.replace("Error", "").lower() or "error", stop.message)
    return interrupted(stop.message, raises=stop)


def _internal(run: RunState, stop: BaseException) -> Ending:
    """A bug in agentctl must not lose the job: it stays resumable."""
    return interrupted(f"internal error: {type(stop).__name__}: {stop}", raises=stop, discard=True)


# The table: the first row whose type the stop is decides (order matters: LeaseLost and
# StoreUnavailable are AgentctlErrors, JobFailure too).
OUTCOMES: tuple[tuple[type[BaseException], Callable[[RunState, Any], Ending]], ...] = (
    (Parked, _parked),
    (Cancelled, _cancelled),
    (KeyboardInterrupt, _interrupted),
    (Interrupt, _interrupted),
    (LeaseLost, _lease_lost),
    (StoreUnavailable, _store_lost),
    (JobFailure, _failed),
    (AgentctlError, _refused),
    (BaseException, _internal),
)


def ending_for(run: RunState, stop: BaseException) -> Ending:
    return next(decide(run, stop) for kind, decide in OUTCOMES if isinstance(stop, kind))


def settle(run: RunState, stop: BaseException) -> Outcome:
    """End the job as the table says for `stop`; raise what it says after."""
    ending = ending_for(run, stop)
    if ending.discard:
        run.journal.discard()
    outcome = None
    if ending.state is not None:
        try:
            if ending.shielded:
                with signals_ignored():
                    outcome = end_job(run, ending)
            else:
                outcome = end_job(run, ending)
        except AgentctlError:
            if not ending.best_effort:
                raise
    if ending.raises is stop:
        raise stop
    if ending.raises is not None:
        raise ending.raises from None
    assert outcome is not None  # every row that raises nothing writes an end
    return outcome


def end_job(run: RunState, ending: Ending) -> Outcome:
    """Write the job's end: its state, the step it stopped in, its event; a job that fails
    under `on_failure: rollback` first has its file changes undone."""
    assert ending.state is not None and ending.event is not None
    state = ending.state
    if state == JobState.FAILED and run.recipe.on_failure == "rollback":
        roll_back(run)
    for view in run.steps_view:
        if view["state"] == StepState.RUNNING:  # the step the job stopped in says how
            view["state"] = StepState(state)
    fields: dict[str, Any] = {"state": state, "steps": run.steps_view}
    if ending.error:
        fields.update(error_type=ending.error["type"], error_message=ending.error["message"])
    run.journal.add(ending.event, set_fields=fields)
    run.journal.commit()
    return Outcome(run.job_id, state, EXIT_CODES[state], ending.error, ending.pending)


def roll_back(run: RunState) -> None:
    """`on_failure: rollback`: undo the job's file changes before it ends failed."""
    from agentctl.engine.rollback import rollback_with_lease

    run.journal.commit()
    try:
        rollback_with_lease(run.store, run.job_id, token=run.journal.token, clock=run.deps.clock)
    except AgentctlError as error:
        run.warn_once(f"on_failure rollback did not finish: {error.message}")
