"""The job runner: takes the lease, replays the log, runs the remaining steps, ends the job.

One runner per job (the lease); its writes are fenced by the lease token. Nothing here prints
or exits: progress goes out as events through `on_event`, and the outcome is returned.

`run_job` reads in phases, each a module of this package:
- session.py: the hold on the job (checks, lease, heartbeat, trace, SIGTERM);
- state.py: what the job is, loaded from its log (recipe, policies, redactor, replay index);
- steps.py: the steps loop, with what it offers each step's executor (engine/steps);
- outcomes.py: one table from how the loop stopped to how the job ends.
"""

from __future__ import annotations

from agentctl.engine.git_workspace import push_git_workspace
from agentctl.engine.run.deps import Outcome, RunnerDeps
from agentctl.engine.run.outcomes import SUCCEEDED, end_job, settle
from agentctl.engine.run.session import open_session
from agentctl.engine.run.state import RunState
from agentctl.engine.run.steps import run_steps
from agentctl.events import JobState, LimitsChanged, PolicyAdded, RunnerStarted

__all__ = ["Outcome", "RunnerDeps", "run_job"]


def run_job(job_id: str, deps: RunnerDeps) -> Outcome:
    """Run (or resume) a job until it ends or parks."""
    with open_session(job_id, deps) as session:
        run = RunState(session, deps)
        announce_start(run)
        try:
            run_steps(run)
            push_git_workspace(run.store, run.job, run.journal)
        except BaseException as stop:
            return settle(run, stop)
        return end_job(run, SUCCEEDED)


def announce_start(run: RunState) -> None:
    """The job is running (again): the runner, the policy files changed since the job
    started, the limits `resume --limit` changes."""
    me = run.deps.identity
    resumed = bool(run.index.steps or run.index.models or run.index.started)
    run.journal.add(
        RunnerStarted(
            pid=me.pid,
            host=me.host,
            token=run.journal.token,
            resumed=resumed,
            detached=bool(run.deps.detached),
        ),
        set_fields={
            "state": JobState.RUNNING,
            "steps": run.steps_view,
            "cancel_requested": 0,
            "error_type": None,
            "error_message": None,
        },
    )
    for changed in run.changed_policies:
        by = "the file changed since the job started"
        run.journal.add(PolicyAdded(path=changed["path"], text=changed["text"], by=by))
    if run.deps.limits:
        limits = dict(run.deps.limits)
        run.journal.add(LimitsChanged(limits=limits))
        run.index.limits.update(limits)
    run.journal.commit()
    run.apply_limit_changes()
