"""Job keys (`run --key KEY`): a second run with a key already used gets the job that has it.

A CI step re-run (`--key "$GITHUB_RUN_ID-$GITHUB_JOB"`) must not repeat the first run's
effects: the key is stored with the job (unique per database, so two runs racing with one key
make one job), and what the second run does with the job it finds depends on how it stands:
a finished job is only reported (its state and exit code); a job whose runner died, a parked
one, or one not started yet is resumed, which repeats nothing its log holds; a job another
runner has live is waited for (`--detach` and `--queue` report it instead).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from agentctl.engine.jobs import effective_state
from agentctl.events import EXIT_CODES, TERMINAL_STATES, JobState
from agentctl.store import Store

Mode = Literal["follow", "detach", "queue"]
Action = Literal["run", "wait", "report"]


@dataclass(frozen=True)
class KeyedRun:
    """What a run with a key does with the job the key names."""

    job_id: str
    state: str  # as `status` shows it (a dead runner's job: interrupted)
    action: Action  # run (or resume) it, wait for the runner that has it, or only report it


def plan_keyed_run(store: Store, job_id: str, *, mode: Mode) -> KeyedRun:
    job = store.get_job(job_id)
    state = effective_state(job)
    action: Action = "report"
    if state in TERMINAL_STATES:
        action = "report"
    elif state == JobState.RUNNING:
        action = "wait" if mode == "follow" else "report"
    elif mode == "queue":
        # A worker takes a queued, parked-and-answered or interrupted job of its queue.
        action = "report" if job.get("queue") else "run"
    else:  # queued, interrupted (never started, or its runner died), awaiting approval
        action = "run"
    return KeyedRun(job_id, state, action)


def reported_exit_code(state: str) -> int:
    """The exit code of a run that only reports its key's job: the job's own when it ended
    or parked; 0 for one still on its way (queued, running, left for a worker)."""
    if state in TERMINAL_STATES or state == JobState.AWAITING_APPROVAL:
        return int(EXIT_CODES[state])
    return 0


def wait_for_job(
    store: Store,
    job_id: str,
    *,
    poll: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    timeout: float | None = None,
) -> str:
    """Wait while another runner has the job live; return its state then."""
    deadline = None if timeout is None else clock() + timeout
    while True:
        job = store.get_job(job_id)
        state = effective_state(job)
        if state != JobState.RUNNING or (deadline is not None and clock() >= deadline):
            return state
        store.wait_for_events(job_id, job["last_seq"], poll)
