"""A job whose workspace is a git source (`--workspace git+URL#REV`, or the recipe's
`workspace: {git: URL, ref: REV}`): no shared disk between the machine that queues it and
the worker that runs it.

The runner that takes the job (after its lease: one clone per job) clones the source into a
folder of its own machine's state dir, at the commit the job's first clone recorded (so a
branch that moved since does not change what the job works on), and puts back the changes
the job's log already holds (a job resumed on another machine finds its files as it left
them). The change set lives in the database, so `diff` and `apply` work from any machine.
With a branch to push (`--push-branch`, `workspace: {push: BRANCH}`), a job that succeeds
commits its changes in the clone and pushes them to the source as that branch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from agentctl.engine.journal import Journal, new_event
from agentctl.engine.stops import JobFailure
from agentctl.errors import AgentctlError, UsageError
from agentctl.events import EventType, WorkspaceCloned, WorkspacePushed
from agentctl.store import JobRecord, JobUpdate, Store

GIT_PREFIX = "git+"


def parse_git_workspace(value: str) -> dict[str, str | None] | None:
    """`git+URL#REV` -> {"url", "ref"}; None for an ordinary folder."""
    if not value.startswith(GIT_PREFIX):
        return None
    url, _, ref = value[len(GIT_PREFIX) :].partition("#")
    if not url:
        raise UsageError(
            f"--workspace {value}: no repository after git+",
            "write --workspace git+URL#REV, e.g. git+https://github.com/org/repo#main",
        )
    return {"url": url, "ref": ref or None}


def check_push_branch(branch: str) -> str:
    """`--push-branch NAME` / `workspace: {push: NAME}`: a name git takes, or exit 2."""
    from agentctl.process.git import branch_name_problem

    problem = branch_name_problem(branch)
    if problem:
        raise UsageError(
            f"cannot push branch {branch!r}: {problem}", "name a branch, e.g. agentctl/fix-1234"
        )
    return branch


def git_source(job: Mapping[str, Any]) -> dict[str, Any] | None:
    options = job.get("options") or {}
    source = options.get("workspace_git") if isinstance(options, Mapping) else None
    return source if isinstance(source, dict) else None


def clone_folder(store: Store, job_id: str) -> Path:
    """Where this machine keeps a git job's clone: beside the runners' logs (next to a
    SQLite database; in the user data dir for PostgreSQL)."""
    return store.logs_dir.parent / "workspaces" / job_id


def _first_commit(store: Store, job_id: str) -> str | None:
    ready = store.read_events(job_id, types=[EventType.WORKSPACE_CLONED], limit=1)
    return str(ready[0].data.get("commit")) if ready else None


def ensure_git_workspace(
    store: Store, job: JobRecord, token: int, clock: Callable[[], float]
) -> JobRecord:
    """The job, with its git workspace cloned on this machine (and the job's recorded
    changes put back in it); the job row names the folder. Raises AgentctlError when the
    source cannot be cloned or a recorded change cannot be put back."""
    from agentctl.changes.history import apply_rollback, collect_changes
    from agentctl.changes.landing import plan_apply
    from agentctl.process.git import clone_at

    job_id = str(job["id"])
    source = git_source(job)
    assert source is not None
    if Path(job["workspace"]).is_dir():
        return job
    dest = clone_folder(store, job_id)
    pinned = _first_commit(store, job_id)
    commit = clone_at(str(source["url"]), pinned or source.get("ref"), dest)
    changes = [c for c in collect_changes(store.read_events(job_id)) if c.rolled_back_by is None]
    put_back = 0
    if changes:
        result = apply_rollback(plan_apply(changes, dest), dest, force=False)
        if result.conflicts or result.skipped_too_large:
            stuck = [c["path"] for c in result.conflicts] + result.skipped_too_large
            raise AgentctlError(
                f"job {job_id}: a fresh clone of {source['url']} could not take back the job's"
                f" changes to {', '.join(stuck)}",
                f"the job's changes are in its log: `agentctl diff {job_id}`",
            )
        put_back = len(result.restored) + len(result.removed)
    store.append_events(
        job_id,
        [
            new_event(
                WorkspaceCloned(
                    url=source["url"],
                    ref=source.get("ref"),
                    commit=commit,
                    folder=str(dest),
                    changes_put_back=put_back,
                )
            )
        ],
        now=clock(),
        token=token,
        update=JobUpdate(set={"workspace": str(dest)}),
    )
    return store.get_job(job_id)


def push_git_workspace(store: Store, job: Mapping[str, Any], journal: Journal) -> None:
    """A succeeding job with a branch to push: commit its changes in the clone and push the
    branch to the source (once: a job resumed after its push does not push again). A push
    the source refuses fails the job (`error.type: push`); its changes stay in the log."""
    from agentctl.process.git import commit_and_push

    source = git_source(job)
    branch = source.get("push") if source is not None else None
    if source is None or not branch:
        return
    job_id = str(job["id"])
    if store.read_events(job_id, types=[EventType.WORKSPACE_PUSHED], limit=1):
        return
    try:
        commit, files = commit_and_push(
            Path(job["workspace"]), str(branch), message=f"agentctl job {job_id} ({job['recipe']})"
        )
    except AgentctlError as error:
        raise JobFailure(
            "push",
            f"could not push branch {branch} to {source['url']}: {error.message}",
            f"the job's changes are in its log: `agentctl diff {job_id}`, or land them"
            f" with `agentctl apply {job_id}`",
        ) from None
    journal.add(
        WorkspacePushed(url=str(source["url"]), branch=str(branch), commit=commit, files=files)
    )
    journal.commit(durable=True)
