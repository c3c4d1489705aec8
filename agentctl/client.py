"""A small Python API for services that queue and steer jobs without a subprocess.

    from agentctl.client import Client

    client = Client("postgresql://agentctl@db.internal/agentctl")  # or a SQLite path
    job = client.enqueue("recipes/triage-issues.yaml", params={"folder": "issues"},
                         workspace="git+https://github.com/org/repo#main", key="ticket-4711")
    client.status(job)["state"]             # "queued", then "running", ...
    client.approve(job, every=True, comment="looks right")
    client.wait(job, timeout=600)           # the job's state once it stops
    client.cancel(job)

Each call does what the command of the same name does, with the same checks, and raises
`agentctl.errors.AgentctlError` (its `.message`, `.hint` and `.exit_code`) where the command
would exit non-zero. A worker (`agentctl worker`) runs what is queued.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from agentctl.store import Store, open_store


class Client:
    """A handle on one job database (`--db`'s forms: a SQLite path or a postgresql:// URL;
    None: AGENTCTL_DB, else the default file)."""

    def __init__(self, db: str | os.PathLike[str] | None = None):
        from agentctl.paths import resolve_db_target

        self.store: Store = open_store(resolve_db_target(str(db) if db is not None else None))

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def enqueue(
        self,
        recipe: str | os.PathLike[str],
        *,
        params: Mapping[str, Any] | None = None,
        workspace: str | os.PathLike[str] | None = None,
        queue: str = "default",
        key: str | None = None,
        policies: list[str] | None = None,
        models: list[str] | None = None,
        shared_workspace: bool = False,
        push_branch: str | None = None,
    ) -> str:
        """Record a job `queued` for a worker (`run RECIPE --queue`); its id. A `key` that a
        job already has returns that job's id and records nothing. `shared_workspace`: as
        `--shared-workspace`, several jobs may run in the folder at once. `push_branch`: as
        `--push-branch`, a git workspace's job that succeeds pushes its changes as that branch."""
        from agentctl.engine.launch import prepare_job

        return prepare_job(
            self.store,
            str(recipe),
            param_pairs=[f"{k}={v}" for k, v in (params or {}).items()],
            workspace=str(workspace) if workspace is not None else None,
            model_overrides=models or [],
            record=None,
            replay=None,
            policy_files=policies or [],
            queue=queue,
            key=key,
            shared_workspace=shared_workspace,
            push_branch=push_branch,
        )

    def status(self, job: str) -> dict[str, Any]:
        """The job as `agentctl status JOB --json` prints it."""
        from agentctl.engine.jobs import describe_job

        return describe_job(self.store, self.store.get_job(self.store.find_job(job)))

    def approve(
        self, job: str, request: str | None = None, *, every: bool = False, comment: str = ""
    ) -> list[dict[str, Any]]:
        """Approve one pending request (or, with `every`, all of the job's)."""
        return self._decide(job, request, "approve", every, comment)

    def deny(
        self, job: str, request: str | None = None, *, every: bool = False, comment: str = ""
    ) -> list[dict[str, Any]]:
        """Deny one pending request (or all); a comment is told to the agent."""
        return self._decide(job, request, "deny", every, comment)

    def _decide(
        self, job: str, request: str | None, decision: str, every: bool, comment: str
    ) -> list[dict[str, Any]]:
        from agentctl.engine.approvals import decide_all, decide_approval, describe_decider
        from agentctl.engine.continuation import continue_after_decision

        job_id = self.store.find_job(job)
        by, now = describe_decider(via="agentctl.client"), time.time()
        if every:
            records = decide_all(
                self.store, job_id, decision, by=by, comment=comment or None, now=now
            )
        else:
            records = [
                decide_approval(
                    self.store, job_id, request, decision, by=by, comment=comment or None, now=now
                )
            ]
        continue_after_decision(self.store, job_id)
        return records

    def cancel(self, job: str) -> str:
        """Ask the job to stop (`agentctl cancel`); its state after the request."""
        from agentctl.engine.jobs import cancel_job

        return str(cancel_job(self.store, self.store.find_job(job)))

    def wait(self, job: str, timeout: float = 600.0, poll: float = 0.5) -> str:
        """The job's state once it is no longer queued or running (an ended or parked job),
        or TimeoutError after `timeout` seconds."""
        from agentctl.engine.jobs import effective_state

        job_id = self.store.find_job(job)
        deadline = time.monotonic() + timeout
        while True:
            state = str(effective_state(self.store.get_job(job_id)))
            if state not in ("queued", "running"):
                return state
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} is still {state} after {timeout:g} s")
            time.sleep(poll)


__all__ = ["Client"]
