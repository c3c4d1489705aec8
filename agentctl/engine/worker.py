"""Workers: claim runnable jobs from queues and run each in a process of its own.

A worker takes a job with `Store.claim_job` (on PostgreSQL `FOR UPDATE SKIP LOCKED`, so
workers on many machines never get the same job), which also takes the job's lease; the
child process that runs the job adopts that lease with its fencing token, so a worker that
stalls past its lease and comes back finds its writes refused.

Runnable jobs are those started with `run --queue`: queued ones, parked ones whose approvals
were all answered, interrupted ones, and ones whose runner's lease expired. A job whose
workspace this machine does not have is left for another worker, with a note that `status`
shows. On stop (SIGTERM): no more claims; running jobs are asked to stop at their next safe
point (they end `interrupted`, for any worker to resume); the worker returns when they have.
"""

from __future__ import annotations

import os
import random
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from agentctl.engine.git_workspace import git_source
from agentctl.engine.journal import new_event
from agentctl.engine.worker_beat import WorkerBeat
from agentctl.events import JobFailed
from agentctl.process.procinfo import ProcessIdentity, current_process
from agentctl.store import Claim, JobUpdate, QueueLimit, Store

DEFAULT_QUEUE = "default"
DEFAULT_LEASE_SECONDS = 15.0


class Child(Protocol):
    """A running job's process, as the worker sees it (a subprocess.Popen)."""

    def poll(self) -> int | None: ...

    def send_signal(self, sig: int) -> None: ...

    def wait(self, timeout: float | None = None) -> int: ...


@dataclass
class WorkerOptions:
    queues: Sequence[str] = (DEFAULT_QUEUE,)
    concurrency: int = 1
    once: bool = False
    lease_ttl: float = DEFAULT_LEASE_SECONDS
    idle_wait: float = 1.0  # how long to wait for work when there is none
    # A queued job whose workspace no worker has is failed this long after it was queued,
    # naming the path, instead of staying queued for ever; it is looked at again meanwhile.
    workspace_wait: float = 600.0
    # A job whose runner died this many times (killed, out of memory, its machine gone) is
    # failed as a dead letter instead of being taken over again: it would take down the next.
    max_takeovers: int = 5
    # A warm worker's beat (leases, cancel flags) for all its jobs: how often it looks.
    beat_interval: float = 0.25


@dataclass
class WorkerReport:
    ran: dict[str, int] = field(default_factory=dict)  # job id -> the child's exit code
    left: dict[str, str] = field(default_factory=dict)  # job id -> why this worker left it
    states: dict[str, str] = field(default_factory=dict)  # job id -> its state when it ended

    def exit_code(self) -> int:
        """What `worker --once` exits with: 1 if a job it ran failed (or its runner did),
        else 3 if one is waiting for an approval, else 0."""
        if any(s == "failed" for s in self.states.values()) or 1 in self.ran.values():
            return 1
        return 3 if "awaiting_approval" in self.states.values() else 0


def limit_queue(
    store: Store,
    queue: str,
    *,
    max_running: int | None = None,
    max_starts: int | None = None,
    per: float | None = None,
    clear: bool = False,
    now: float,
) -> QueueLimit:
    """Set a queue's limits for every worker (`agentctl queue NAME ...`): what is given
    replaces its value, the rest stays; `clear` removes them all. Returns the queue's limits
    as they are now (with its jobs running and started)."""
    from agentctl.errors import UsageError

    if not queue.strip() or queue.startswith("-"):
        raise UsageError(f"bad queue name {queue!r}", "name a queue, e.g. `agentctl queue nightly`")
    old = next((q for q in store.queue_limits(now=now) if q.queue == queue), QueueLimit(queue))
    if clear:
        new = QueueLimit(queue)
    else:
        starts = max_starts if max_starts is not None else old.max_starts
        if per is not None and starts is None:
            raise UsageError("--per is the window of --max-starts", "add --max-starts N")
        window = per if per is not None else old.per_seconds if old.per_seconds else 60.0
        new = QueueLimit(
            queue,
            max_running if max_running is not None else old.max_running,
            starts,
            window if starts is not None else None,
        )
    if new != QueueLimit(old.queue, old.max_running, old.max_starts, old.per_seconds):
        store.set_queue_limit(new)
    return next((q for q in store.queue_limits(now=now) if q.queue == queue), QueueLimit(queue))


def run_claimed_argv(claim: Claim, lease_ttl: float) -> list[str]:
    """The command that runs one claimed job; the store is in the environment (AGENTCTL_DB)."""
    return [
        sys.executable,
        "-m",
        "agentctl",
        "worker-run",
        claim.job_id,
        "--token",
        str(claim.token),
        "--lease",
        f"{lease_ttl:g}",
    ]


class Worker:
    def __init__(
        self,
        store: Store,
        options: WorkerOptions,
        *,
        spawn: Callable[[Claim], Child],
        identity: ProcessIdentity | None = None,
        clock: Callable[[], float] = time.time,
        on_note: Callable[[str], None] = lambda line: None,
        beat: WorkerBeat | None = None,
    ):
        self.store = store
        self.beat = beat  # a warm worker keeps its jobs' leases; else each job its own
        self.options = options
        self.spawn = spawn
        self.me = identity or current_process()
        self.name = f"worker {self.me.pid} on {self.me.host}"
        self.clock = clock
        self.on_note = on_note
        self.stopping = threading.Event()
        self.children: dict[str, Child] = {}
        self.skip: set[str] = set()
        self.skip_until: dict[str, float] = {}  # job id -> when to look at it again
        self.report = WorkerReport()

    def stop(self) -> None:
        """Claim nothing more; ask running jobs to stop at their next safe point."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        for child in self.children.values():
            try:
                child.send_signal(signal.SIGTERM)
            except OSError:
                pass

    def run(self) -> WorkerReport:
        if self.beat is not None:
            self.beat.start()
        try:
            while not self.stopping.is_set():
                self._reap()
                claimed = self._fill()
                if self.options.once and not claimed and not self.children:
                    break
                if len(self.children) >= self.options.concurrency:
                    self._wait_for_a_job(self.options.idle_wait)
                elif not claimed:
                    self._wait(self.options.idle_wait)
            while self.children:  # stopping: let the running jobs reach their safe point
                self._reap()
                if self.children:
                    time.sleep(0.05)
        finally:
            if self.beat is not None:
                self.beat.stop()
        return self.report

    def _fill(self) -> bool:
        """Claim jobs until every slot is busy; whether any was claimed."""
        claimed = False
        while len(self.children) < self.options.concurrency and not self.stopping.is_set():
            claim = self.store.claim_job(
                list(self.options.queues),
                host=self.me.host,
                pid=self.me.pid,
                start=self.me.start,
                now=self.clock(),
                ttl=self.options.lease_ttl,
                skip=self._skipped(),
            )
            if claim is None:
                break
            claimed = True
            if claim.takeovers > self.options.max_takeovers:
                self._dead_letter(claim)
                continue
            if not self._workspace_here(claim):
                continue
            self.children[claim.job_id] = self.spawn(claim)
            self.on_note(f"{claim.job_id}: running ({claim.reason})")
        return claimed

    def _skipped(self) -> set[str]:
        now = self.clock()
        return self.skip | {job for job, until in self.skip_until.items() if until > now}

    def _workspace_here(self, claim: Claim) -> bool:
        job = self.store.get_job(claim.job_id)
        workspace = job["workspace"]
        if Path(workspace).is_dir() or git_source(job) is not None:  # a git job is cloned
            return True
        now = self.clock()
        if now - float(job["created_at"]) >= self.options.workspace_wait:
            self._fail_unplaceable(claim, workspace, now)
            return False
        why = f"workspace {workspace} is missing on {self.me.host}; left for another worker"
        self.store.note_worker(claim.job_id, self.name, why, now=now)
        self.store.release_lease(claim.job_id, claim.token)
        # Looked at again later: the folder may appear (a mount, a checkout) before the wait ends
        self.skip_until[claim.job_id] = now + min(30.0, self.options.workspace_wait)
        self.report.left[claim.job_id] = why
        self.on_note(f"{claim.job_id}: {why}")
        return False

    def _dead_letter(self, claim: Claim) -> None:
        most = self.options.max_takeovers
        message = (
            f"its runner died {claim.takeovers} times (each time taken over by a worker);"
            f" left failed rather than taken over again (worker --max-takeovers {most})"
        )
        self._fail_claimed(claim, "dead_letter", message, self.clock())

    def _fail_unplaceable(self, claim: Claim, workspace: str, now: float) -> None:
        waited = self.options.workspace_wait
        message = (
            f"workspace {workspace} exists on no worker that looked for it within {waited:g} s"
            f" (last: {self.me.host})"
        )
        self._fail_claimed(claim, "workspace", message, now)

    def _fail_claimed(self, claim: Claim, kind: str, message: str, now: float) -> None:
        error = {"type": kind, "message": message}
        self.store.append_events(
            claim.job_id,
            [new_event(JobFailed(error=error))],
            now=now,
            token=claim.token,
            update=JobUpdate(set={"state": "failed", "error_type": kind, "error_message": message}),
        )
        self.store.release_lease(claim.job_id, claim.token)
        self.report.states[claim.job_id] = "failed"
        self.on_note(f"{claim.job_id}: failed: {message}")

    def _reap(self) -> None:
        for job_id, child in list(self.children.items()):
            code = child.poll()
            if code is None:
                continue
            del self.children[job_id]
            if self.beat is not None:
                self.beat.remove(job_id)
            self.report.ran[job_id] = code
            state = self.store.get_job(job_id)["state"]
            self.report.states[job_id] = state
            self.on_note(f"{job_id}: {state} (exit {code})")
            if state in ("interrupted", "running") and not self.stopping.is_set():
                # It stopped by itself without finishing (a bug, a lost database): another
                # worker, or a person with `resume`, may try it; this one does not loop on it.
                self.skip.add(job_id)

    def _wait_for_a_job(self, seconds: float) -> None:
        """Every slot busy: until one of the running jobs ends, or `seconds` (the loop then
        looks at `stopping`). Asking the store for work meanwhile would be told there is some
        and spin: the work is claimed once a slot is free."""
        if any(child.poll() is not None for child in self.children.values()):
            return
        pids = [getattr(child, "pid", None) for child in self.children.values()]
        fds: list[int] = []
        try:
            if all(isinstance(pid, int) for pid in pids):
                fds = [os.pidfd_open(pid) for pid in pids if isinstance(pid, int)]
        except (OSError, AttributeError):  # an old kernel, or no pidfd_open: look every 20 ms
            pass
        try:
            if len(fds) == len(pids):
                poller = select.poll()
                for fd in fds:
                    poller.register(fd, select.POLLIN)
                poller.poll(seconds * 1000)
                return
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and not self.stopping.is_set():
                if any(child.poll() is not None for child in self.children.values()):
                    return
                time.sleep(0.02)
        finally:
            for fd in fds:
                os.close(fd)

    def _wait(self, seconds: float) -> None:
        """A free slot: until a claim would take a job (the store wakes us; not a job another
        worker claimed and not one this worker left), a running job ended, or `seconds`
        (jittered, so idle workers do not poll in step) passed."""
        deadline = time.monotonic() + seconds * random.uniform(0.75, 1.25)
        queues = list(self.options.queues)
        while time.monotonic() < deadline and not self.stopping.is_set():
            if any(child.poll() is not None for child in self.children.values()):
                return
            slice_ = min(0.05 if self.children else 0.25, deadline - time.monotonic())
            if slice_ > 0 and self.store.wait_for_work(queues, slice_, skip=self._skipped()):
                return


def worker_for_store(
    store: Store, options: WorkerOptions, *, env: dict[str, str], on_note: Callable[[str], None]
) -> Worker:
    """A worker whose jobs run as `agentctl worker-run` child processes on this machine."""
    from agentctl.process.run import spawn_supervised

    child_env = {**env, "AGENTCTL_DB": store.target}

    def spawn(claim: Claim) -> Any:
        return spawn_supervised(
            run_claimed_argv(claim, options.lease_ttl),
            env=child_env,
            log_path=store.logs_dir / f"{claim.job_id}.log",
        )

    return Worker(store, options, spawn=spawn, on_note=on_note)


def warm_up() -> None:
    """Import what every job needs, once, in the worker (its forked children share it):
    the runner and its step kinds, the policy with its shell parser, the tools, change
    recording, and the sandbox probe (its answer is inherited too). Then fill the caches
    every job would otherwise fill again in its own child (`warm_caches`)."""
    import importlib

    for name in (
        "agentctl.engine.launch",
        "agentctl.engine.run",
        "agentctl.engine.steps",
        "agentctl.engine.agent",
        "agentctl.engine.context",
        "agentctl.policy.rules",
        "agentctl.policy.shellwords",
        "agentctl.policy.bashgrammar",
        "agentctl.policy.bash_tables",
        "agentctl.policy.urls",
        "agentctl.tools.builtin",
        "agentctl.tools.toolbox",
        "agentctl.tools.custom",
        "agentctl.process.git",
        "agentctl.process.git_secrets",
        "agentctl.changes.record",
        "agentctl.recipe.templates",
        "agentctl.models.calls",  # (litellm itself only at the first model job)
        "bashlex",
    ):
        importlib.import_module(name)
    from agentctl.process.sandbox import probe_confinement

    probe_confinement()
    warm_caches()


def warm_caches() -> None:
    """What a job's child computes the same way every time, computed in the worker before it
    forks, so the child finds it ready: Python's regex cache (the secret masker's one regex
    with the provider keys this worker has, the snapshot's cache excludes), the default
    policy (parsed once: `default_policy` is cached) and, as root, the
    scan of what only root may read (kept `SCAN_TTL_S`; the worker rescans, not each job).
    A job whose values differ still builds its own, as before."""
    from agentctl.changes.ignore import CACHE_EXCLUDES, compile_gitignore
    from agentctl.engine.secrets import PROVIDER_KEY_NAMES
    from agentctl.policy.rules import default_policy
    from agentctl.redact import Redactor

    env = os.environ
    Redactor(values=[env[name] for name in sorted(PROVIDER_KEY_NAMES) if env.get(name)])
    compile_gitignore(list(CACHE_EXCLUDES))
    default_policy()
    refresh_caches()


def refresh_caches() -> None:
    """Before each fork: what of `warm_caches` ages, the root-only scan (cheap when fresh:
    a rescan at most every `SCAN_TTL_S`, in the worker rather than in a job's child)."""
    from agentctl.process.sandbox_user import root_only_paths

    # A workspace in a system folder (/tmp, /home, /root) adds no folder of its own to scan;
    # one elsewhere (/srv/ws) still has its child scan, as before.
    root_only_paths("/tmp", os.environ.get("PATH", ""))


def forking_worker_for_store(
    store: Store, options: WorkerOptions, *, on_note: Callable[[str], None]
) -> Worker:
    """A warm worker: imports once (`warm_up`; litellm at its first model job) and runs each
    claimed job in a forked child with a store connection of its own. The worker's beat keeps
    the leases of all its jobs (one query per beat) and tells each job through a pipe."""
    import gc

    from agentctl.engine.heartbeat import parent_beat
    from agentctl.engine.launch import run_prepared_job
    from agentctl.engine.recipe_memo import RecipeMemo, calls_a_model
    from agentctl.process.fork import fork_child
    from agentctl.store import open_store

    warm_up()
    target = store.target
    models_loaded = False
    recipes = RecipeMemo()
    beat = WorkerBeat(store, ttl=options.lease_ttl, interval=options.beat_interval)

    def spawn(claim: Claim) -> Any:
        nonlocal models_loaded
        claimed_at = time.time()  # (a moment after the claim: the lease looks older, not younger)
        # (parsed here for every job: the child finds it parsed)
        if calls_a_model(store, claim.job_id, recipes) and not models_loaded:
            from agentctl.models.loader import warm_litellm

            warm_litellm()
            models_loaded = True
        refresh_caches()
        gc.freeze()  # what the parent holds stays put: the children's pages stay shared
        hear, say = os.pipe()

        def run() -> int:
            os.close(say)
            beat.close_in_child()
            job_store = open_store(target)
            outcome = run_prepared_job(
                job_store,
                claim.job_id,
                approver=None,
                claimed_token=claim.token,
                lease_ttl=options.lease_ttl,
                heartbeat=parent_beat(hear),
                load_recipe=recipes.load,
            )
            return outcome.exit_code

        try:
            with beat.paused():
                child = fork_child(run, log_path=store.logs_dir / f"{claim.job_id}.log")
        except BaseException:
            os.close(say)
            raise
        finally:
            os.close(hear)
        beat.add(claim.job_id, claim.token, say, claimed_at=claimed_at)
        return child

    return Worker(store, options, spawn=spawn, on_note=on_note, beat=beat)
