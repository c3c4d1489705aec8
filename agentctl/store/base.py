"""The store interface: what the engine and the CLI may ask of a job store, and nothing more.

Two implementations: SQLite (`store/sqlite.py`, the default, one file on one machine) and
PostgreSQL (`store/postgres.py`, shared by many machines). Nothing outside `store/` holds a
connection, a path to the database, or SQL; it holds a `Store` and the values below.

Changes to approvals travel with the append that records them
(`append_events(approvals=...)`), as
typed values, so an approval and its event land in one transaction on every backend.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypedDict

from agentctl.errors import AgentctlError, UsageError, WorkspaceBusy
from agentctl.store.chain import StoredEvent


class StoreError(AgentctlError):
    """The database could not be opened or used."""


class StoreUnavailable(StoreError):
    """The connection to the database was lost and could not be restored in time."""


class ApprovalConflict(UsageError):
    """An approval was not in the state a change expected (decided or used meanwhile)."""

    def __init__(self, job_id: str, request: str, expect: str):
        super().__init__(
            f"approval {request} of job {job_id} is no longer {expect}",
            f"see `agentctl status {job_id}`",
        )
        self.job_id, self.request, self.expect = job_id, request, expect


@dataclass
class NewEvent:
    type: str
    step: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    # `data` already serialised compactly (as `dumps` would), when the caller had to anyway.
    encoded: str | None = None


@dataclass
class Event:
    seq: int
    ts: float
    type: str
    step: str | None
    data: dict[str, Any]


@dataclass
class JobUpdate:
    """How an append changes the job's projection row."""

    set: dict[str, Any] = field(default_factory=dict)
    add: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class NewApproval:
    """A pending approval, recorded with the event that asks for it."""

    request: str
    step: str | None
    key: str
    tool: str | None
    args: Mapping[str, Any]
    action_hash: str
    rules: list[Any]
    reason: str
    now: float


@dataclass(frozen=True)
class ApprovalTransition:
    """Move an approval from `expect` to `state`; the append fails with ApprovalConflict
    (writing nothing) when the approval is not in `expect` any more."""

    request: str
    expect: str
    state: str
    now: float
    by: str | None = None
    comment: str | None = None

    def __post_init__(self) -> None:
        if self.state in ("approved", "denied") and not (self.by or "").strip():
            raise ValueError("an approval is decided by someone: `by` is required")


ApprovalChange = NewApproval | ApprovalTransition


@dataclass(frozen=True)
class Schedule:
    """When and in what order workers take a queued job: higher `priority` first (then the
    oldest), and none before `not_before` (a Unix time)."""

    priority: int = 0
    not_before: float | None = None


@dataclass(frozen=True)
class Claim:
    """A job a worker took: its id, the fencing token, and why it was runnable."""

    job_id: str
    token: int
    reason: str  # "queued" | "approved" | "interrupted" | "lease_expired"
    takeovers: int = 0  # times a worker took the job after its runner died, this one included


@dataclass(frozen=True)
class QueueLimit:
    """A queue's fleet-wide limits (None: none) and, when read, how near it is to them."""

    queue: str
    max_running: int | None = None  # at most this many of its jobs run at once
    max_starts: int | None = None  # at most this many claims ...
    per_seconds: float | None = None  # ... in this window
    running: int = 0  # its jobs held by a live lease now
    started: int = 0  # its jobs claimed within the window


@dataclass(frozen=True)
class LeaseBeat:
    """What one beat of a warm worker learnt of one of its jobs whose lease it still holds."""

    job_id: str
    cancel_requested: bool
    policy_seq: int  # the seq of the job's last `policy_added` event (0: none)


class JobRecord(TypedDict):
    """A job's row: the projection of its log (state, steps, usage), its lease and queue."""

    id: str
    recipe: str
    recipe_path: str | None
    recipe_blob: str
    params: dict[str, Any]
    options: dict[str, Any]
    workspace: str
    state: str
    created_at: float
    updated_at: float
    last_seq: int
    steps: list[dict[str, Any]]
    error_type: str | None
    error_message: str | None
    input_tokens: int
    output_tokens: int
    cost_usd: float
    model_calls: int
    tool_calls: int
    lease_token: int
    lease_pid: int | None
    lease_host: str | None
    lease_start: str | None
    lease_expires: float | None
    heartbeat_at: float | None
    cancel_requested: int
    queue: str | None
    key: str | None
    priority: int
    not_before: float | None
    takeovers: int
    workspace_lock: str | None


# Whether the process `pid` started at `start` (on this host) still runs.
IsAlive = Callable[[int, str], bool]

SETTABLE = ("state", "steps", "error_type", "error_message", "cancel_requested", "workspace")
ADDABLE = ("input_tokens", "output_tokens", "cost_usd", "model_calls", "tool_calls")
FINISHED_STATES = ("succeeded", "failed", "cancelled")


class Store(Protocol):
    """A job store: jobs (with their lease), the append-only event log, blobs, approvals."""

    @property
    def location(self) -> str:
        """Where the store is, for people: a path, or a URL without its password."""
        ...

    @property
    def target(self) -> str:
        """What `--db`/`AGENTCTL_DB` must say to open this store again (may hold a password:
        hand it to child processes through the environment, never print it)."""
        ...

    @property
    def db_file(self) -> Path | None:
        """The database file on this machine (hidden from confined tools), if there is one."""
        ...

    @property
    def logs_dir(self) -> Path:
        """Where detached runners on this machine write their output."""
        ...

    def reopen(self, *, retry_for: float | None = None) -> Store:
        """Another handle on the same store with its own connection (for another thread);
        `retry_for`: how long its calls retry a lost connection (a heartbeat's beat must not
        block for the default 20 s). The schema is not checked again."""
        ...

    def close(self) -> None: ...

    # -- jobs ----------------------------------------------------------------------------

    def create_job(
        self,
        *,
        job_id: str,
        recipe: str,
        recipe_path: str | None,
        recipe_text: str,
        params: Mapping[str, Any],
        options: Mapping[str, Any],
        workspace: str,
        now: float,
        event: NewEvent,
        queue: str | None = None,
        key: str | None = None,
        schedule: Schedule | None = None,
        shared_workspace: bool = False,
    ) -> str:
        """Insert the job and its first event in one transaction; with `queue`, the job is
        `queued` for a worker of that queue, else `interrupted` until a runner takes it.

        Returns the job's id. With a `key` another job already has, nothing is written and
        that job's id is returned: concurrent creators with one key get one job.
        `shared_workspace`: the job never locks its workspace (see `acquire_lease`)."""
        ...

    def get_job(self, job_id: str) -> JobRecord: ...

    def recipe_text(self, job: Mapping[str, Any]) -> str: ...

    def find_job(self, ref: str) -> str:
        """A job id from an id, a unique prefix of one, or `last`."""
        ...

    def list_jobs(self, state: str | None = None, limit: int | None = None) -> list[JobRecord]: ...

    def delete_jobs(self, job_ids: Iterable[str]) -> tuple[int, int]:
        """Delete jobs and the blobs nothing refers to any more: (jobs, blobs) deleted."""
        ...

    def finished_before(self, cutoff: float) -> list[str]: ...

    def compact(self) -> None:
        """Give the space of deleted rows back (after a prune)."""
        ...

    # -- events --------------------------------------------------------------------------

    def append_events(
        self,
        job_id: str,
        events: list[NewEvent],
        *,
        now: float,
        token: int | None = None,
        durable: bool = False,
        update: JobUpdate | None = None,
        approvals: Sequence[ApprovalChange] = (),
    ) -> list[Event]:
        """Append events, update the job row and apply approval changes in one transaction.

        `token` is the runner's lease token: when another runner has taken the lease since,
        nothing is written and LeaseLost is raised. Writers that do not run the job (approve,
        cancel) pass none. `durable`: the commit is on disk before this returns.
        """
        ...

    def read_events(
        self,
        job_id: str,
        after_seq: int = 0,
        limit: int | None = None,
        *,
        types: Collection[str] | None = None,
    ) -> list[Event]:
        """The job's events after `after_seq`, oldest first, at most `limit` of them.

        `types`: only events of these types; an index finds them, so a poller looking for one
        rare type does not read (or decode) the job's other events.
        """
        ...

    def wait_for_events(self, job_id: str, after_seq: int, timeout: float) -> None:
        """Return when the job may have events after `after_seq`, or after `timeout` s."""
        ...

    def get_blob(self, digest: str) -> bytes: ...

    def stored_events(self, job_id: str) -> tuple[list[StoredEvent], int]:
        """The job's events as stored (data as text, with their hashes) and the job's own
        count of them (`last_seq`), read in one snapshot: what `log --verify` checks."""
        ...

    # -- leases --------------------------------------------------------------------------

    def acquire_lease(
        self,
        job_id: str,
        *,
        host: str,
        pid: int,
        start: str,
        now: float,
        ttl: float,
        is_alive: IsAlive,
        hold_workspace: bool = False,
    ) -> int:
        """Take the job's lease and return the new fencing token, or raise JobBusy.

        `hold_workspace` (a runner): the job's workspace is held with the lease, in the same
        transaction; WorkspaceBusy (nothing taken) while another job's live runner holds it.
        """
        ...

    def workspace_holder(
        self, workspace: str, *, now: float, host: str, is_alive: IsAlive
    ) -> dict[str, Any] | None:
        """The job whose live runner holds `workspace` ({id, pid, host}), or None."""
        ...

    def adopt_lease(
        self, job_id: str, token: int, *, host: str, pid: int, start: str, now: float, ttl: float
    ) -> None:
        """Move a lease this worker claimed to the process that runs the job, keeping its
        token; LeaseLost if the token is no longer current."""
        ...

    def renew_lease(self, job_id: str, token: int, *, now: float, ttl: float) -> bool:
        """Extend the lease; returns whether a cancel was requested. Raises LeaseLost."""
        ...

    def cancel_requested(self, job_id: str) -> bool: ...

    def beat_leases(
        self, leases: Mapping[str, int], *, now: float, ttl: float | None
    ) -> dict[str, LeaseBeat]:
        """One statement for all of a worker's running jobs (`leases`: job id -> token):
        with `ttl`, extend each lease still held with its token; either way read each such
        job's cancel flag and last added policy. A job missing from the answer has lost its
        lease (taken over, or released by its runner)."""
        ...

    def release_lease(self, job_id: str, token: int) -> None: ...

    # -- queues and workers --------------------------------------------------------------

    def wait_for_work(
        self, queues: Sequence[str], timeout: float, *, skip: Collection[str] = ()
    ) -> bool:
        """Return True as soon as a claim in `queues` would take a job (not one of `skip`,
        those the worker left), False after `timeout` seconds without one. The look is a read
        (no locks), repeated when a job may have been queued (PostgreSQL: when it starts to
        LISTEN, then at each notification; SQLite: every 20 ms). A worker claims after
        either: jobs that became runnable otherwise (approved, interrupted, lease expired)
        are found by that claim."""
        ...

    def claim_job(
        self,
        queues: Sequence[str],
        *,
        host: str,
        pid: int,
        start: str,
        now: float,
        ttl: float,
        skip: Iterable[str] = (),
    ) -> Claim | None:
        """Take the lease of one runnable job of `queues` (oldest first), or None.

        Runnable: `queued`; `awaiting_approval` with every approval answered; `interrupted`;
        `running` with an expired lease; and in each case its workspace not held by another
        job's runner (the claim holds it). Concurrent claimers never get the same job.
        """
        ...

    def set_queue_limit(self, limit: QueueLimit) -> None:
        """Set a queue's limits for every worker's claims (no limit at all: the row goes)."""
        ...

    def queue_limits(self, *, now: float) -> list[QueueLimit]:
        """Every queue that has limits, with its jobs running and started at `now`."""
        ...

    def note_worker(self, job_id: str, worker: str, note: str, *, now: float) -> None:
        """Record what a worker saw of a job (e.g. its workspace missing on that machine)."""
        ...

    def worker_notes(self, job_id: str) -> list[dict[str, Any]]: ...

    # -- approvals -----------------------------------------------------------------------

    def list_approvals(self, job_id: str, state: str | None = None) -> list[dict[str, Any]]: ...


def workspace_busy(workspace: str, holder: Mapping[str, Any]) -> WorkspaceBusy:
    other = holder["id"]
    return WorkspaceBusy(
        f"workspace {workspace} is in use by job {other} (pid {holder['pid']} on"
        f" {holder['host']}): one job per workspace",
        f"wait for it (`agentctl watch {other}`) or stop it (`agentctl cancel {other}`); jobs"
        " that cannot get in each other's way may share a folder: `agentctl run"
        " --shared-workspace ...`",
    )


def lease_is_live(
    holder_host: str | None,
    holder_pid: int | None,
    holder_start: str | None,
    expires: float | None,
    *,
    now: float,
    host: str,
    is_alive: IsAlive,
) -> bool:
    """Whether a recorded lease still belongs to a running runner.

    On this host a dead pid frees the lease at once; elsewhere only expiry does.
    """
    if holder_pid is None:
        return False
    if holder_host == host:
        return is_alive(holder_pid, holder_start or "")
    return expires is not None and expires > now
