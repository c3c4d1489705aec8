"""Who goes on with a job once a person has decided its approvals.

- A runner holds the job: it goes on by itself. That is a detached runner (`run --detach`)
  waiting for the decision with its lease, or a terminal prompt that the decision closed.
- Requests are still pending: nothing yet.
- A queued job (`run --queue`): its worker's runner parked it and left, so a worker slot is not
  held while a person thinks; once nothing is pending the job is runnable again (`RUNNABLE` in
  store/sql.py) and a worker of its queue claims it.
- A job last run in the background whose runner is gone (SIGTERM, a reboot, a crash): the
  decision starts a background runner again, as `run --detach` did.
- Otherwise (a foreground run that parked, as in CI): whoever ran it continues it with
  `agentctl resume JOB`; the decision starts nothing behind their back.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from agentctl.engine.git_workspace import git_source
from agentctl.events import TERMINAL_STATES, ApprovalState, EventType
from agentctl.process.procinfo import is_process_alive
from agentctl.store import Store, lease_is_live


@dataclass(frozen=True)
class NextStep:
    """What happens to the job now: `pending` (requests left), `runner` (a live runner goes
    on), `worker` (a worker of `queue` claims it), `background` (a background runner is to
    be started), `restarted` (one was: `pid`, `log_path`), `resume` (a person types
    `agentctl resume`), `ended`."""

    kind: str
    pending: int = 0
    pid: int | None = None
    host: str | None = None
    queue: str | None = None
    log_path: Path | None = None


Restart = Callable[[Store, str], tuple[int, Path]]


def continue_after_decision(
    store: Store,
    job_id: str,
    *,
    restart: Restart | None = None,
    env: Mapping[str, str] | None = None,
) -> NextStep:
    """Say (and, for a background job whose runner is gone, do) what comes after a decision."""
    step = who_goes_on(store, job_id)
    if step.kind != "background":
        return step
    if restart is None:
        from agentctl.engine.launch import detach_job

        restart = partial(detach_job, env=env)
    pid, log_path = restart(store, job_id)
    return NextStep("restarted", pid=pid, log_path=log_path)


def who_goes_on(store: Store, job_id: str) -> NextStep:
    """What comes next for the job, without doing anything: as `continue_after_decision`,
    with `background` where it would start a background runner."""
    job = store.get_job(job_id)
    if job["state"] in TERMINAL_STATES:
        return NextStep("ended")
    pending = len(store.list_approvals(job_id, state=ApprovalState.PENDING))
    live = lease_is_live(
        job["lease_host"],
        job["lease_pid"],
        job["lease_start"],
        job["lease_expires"],
        now=time.time(),
        host=socket.gethostname(),
        is_alive=is_process_alive,
    )
    if live:
        return NextStep("runner", pending, pid=job["lease_pid"], host=job["lease_host"])
    if pending:
        return NextStep("pending", pending)
    if job.get("queue"):
        return NextStep("worker", queue=job["queue"])
    if not _last_runner_detached(store, job_id):
        return NextStep("resume")
    if not Path(job["workspace"]).is_dir() and git_source(job) is None:
        return NextStep("resume")  # its folder is on another machine: resume it there
    return NextStep("background")


def _last_runner_detached(store: Store, job_id: str) -> bool:
    started = store.read_events(job_id, types=[EventType.RUNNER_STARTED])
    return bool(started) and bool(started[-1].data.get("detached"))
