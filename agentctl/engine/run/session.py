"""A runner's hold on its job: the checks before it starts, the lease (taken, or adopted from
the worker that claimed it), the git workspace cloned under it, the heartbeat that renews it,
the trace, SIGTERM, and the release at the end however the run ends."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentctl.engine.git_workspace import ensure_git_workspace, git_source
from agentctl.engine.heartbeat import Beat
from agentctl.engine.journal import Journal
from agentctl.engine.run.deps import RunnerDeps
from agentctl.engine.signals import install_sigterm, restore_sigterm
from agentctl.errors import AgentctlError, UsageError
from agentctl.events import TERMINAL_STATES, EventType
from agentctl.store import JobRecord, Store
from agentctl.telemetry import start_job_trace

# Failures whose cause lies outside the job (a key, a server, a limit): once it is fixed, the
# job continues from its log; nothing it did is done again.
RESUMABLE_FAILURES = ("model", "limit")


@dataclass
class Session:
    """What holding the job gives a run: the job row as the lease found it, the journal its
    writes go through (fenced by the lease token), the cancel its tools watch, the heartbeat."""

    job_id: str
    job: JobRecord
    journal: Journal
    cancel: threading.Event
    heartbeat: Beat


def can_resume_failed(store: Store, job: Mapping[str, Any]) -> bool:
    """A failed job can be resumed when it failed on a model error or a limit and its file
    changes were not rolled back (replaying its actions would then describe files that are
    not there)."""
    if job["state"] != "failed" or job["error_type"] not in RESUMABLE_FAILURES:
        return False
    return not store.read_events(job["id"], types=[EventType.ROLLBACK], limit=1)


def check_runnable(store: Store, job_id: str) -> JobRecord:
    """The job, once it is known to be one a runner can (re)start: exit 2 otherwise."""
    job = store.get_job(job_id)
    if job["state"] in TERMINAL_STATES and not can_resume_failed(store, job):
        raise UsageError(
            f"job {job_id} already {job['state']}; there is nothing to resume",
            f"see it with `agentctl status {job_id}`, or start a new run"
            " (a job that failed on a model error or a limit can be resumed)",
        )
    workspace = Path(job["workspace"])
    if not workspace.is_dir() and git_source(job) is None:
        # Never made again empty: the job's files and recorded changes belong to that folder.
        raise UsageError(
            f"the workspace of job {job_id} is gone: {workspace} does not exist",
            f"put the folder back (e.g. restore or check it out again at {workspace}),"
            f" then `agentctl resume {job_id}`; or cancel it with `agentctl cancel {job_id}`",
        )
    return job


def take_lease(job_id: str, deps: RunnerDeps) -> int:
    """The lease's fencing token: the one a worker claimed for this runner, else a new one
    (which also takes the workspace: one job per workspace, or WorkspaceBusy, exit 2)."""
    me, store = deps.identity, deps.store
    if deps.claimed_token is not None:
        store.adopt_lease(
            job_id, deps.claimed_token, host=me.host, pid=me.pid, start=me.start,
            now=deps.clock(), ttl=deps.lease_ttl,
        )  # fmt: skip
        return deps.claimed_token
    return store.acquire_lease(
        job_id, host=me.host, pid=me.pid, start=me.start, now=deps.clock(),
        ttl=deps.lease_ttl, is_alive=deps.is_alive, hold_workspace=True,
    )  # fmt: skip


@contextmanager
def open_session(job_id: str, deps: RunnerDeps) -> Iterator[Session]:
    """Hold the job for the block: the lease, its heartbeat, the trace and SIGTERM's handler
    are all given back at its end, however it ends."""
    store = deps.store
    job = check_runnable(store, job_id)
    token = take_lease(job_id, deps)
    if git_source(job) is not None:  # cloned here, once the lease says this runner has it
        try:
            job = ensure_git_workspace(store, job, token, deps.clock)
        except AgentctlError:
            store.release_lease(job_id, token)
            raise
    cancel = threading.Event()
    heartbeat = deps.heartbeat(
        store, job_id, token, ttl=deps.lease_ttl, interval=deps.heartbeat_interval,
        clock=deps.clock, cancel=cancel, seen_seq=job["last_seq"],
    )  # fmt: skip
    # Traces only when an OTLP endpoint is configured; otherwise OpenTelemetry is not imported.
    trace = start_job_trace(job_id, str(job.get("recipe") or ""), deps.env)
    on_event = trace.chain(deps.on_event) if trace is not None else deps.on_event
    journal = Journal(store, job_id, token, deps.clock, on_event)
    previous_sigterm = install_sigterm()
    try:
        heartbeat.start()
        yield Session(job_id, job, journal, cancel, heartbeat)
    finally:
        if trace is not None:
            trace.finish(deps.clock())
        heartbeat.stop()
        restore_sigterm(previous_sigterm)
        try:
            store.release_lease(job_id, token)
        except Exception:
            pass
