"""What a run knows of its job, loaded from the store once the lease is held: the recipe
(under the limits `resume --limit` changed), the policies in force, the redactor, the replay
index of the log, and the job row's view of its steps."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentctl.engine.journal import ReplayIndex
from agentctl.engine.policy_updates import (
    POLICY_ADDED,
    changed_policy_files,
    load_policy_set,
    policy_snapshots,
)
from agentctl.engine.run.deps import RecipeLoader, RunnerDeps
from agentctl.engine.run.session import Session
from agentctl.engine.secrets import job_redactor
from agentctl.engine.steps import with_limits
from agentctl.events import JobWarning, StepFinished, StepStarted, StepState

if TYPE_CHECKING:
    from agentctl.policy.rules import PolicySet
    from agentctl.recipe.load import LoadedRecipe
    from agentctl.redact import Redactor
    from agentctl.store import Store

# `steps[].output` in job JSON keeps this many characters; `log --json` has all of it.
STEP_OUTPUT_CAP = 4000


def job_recipe(
    store: Store, job: Mapping[str, Any], load: RecipeLoader | None = None
) -> LoadedRecipe:
    """The job's recipe, parsed from the text the store keeps (by `load`, default
    `load_recipe_text`), named and anchored where the job was started from."""
    if load is None:
        from agentctl.recipe.load import load_recipe_text

        load = load_recipe_text
    path = Path(job["recipe_path"]) if job["recipe_path"] else None
    return load(store.recipe_text(job), str(path or job["recipe"]), path.parent if path else None)


class RunState:
    """One run of a job: its session, what the job is, and the warnings it already gave."""

    def __init__(self, session: Session, deps: RunnerDeps):
        job = session.job
        self.job_id, self.job, self.deps, self.store = session.job_id, job, deps, deps.store
        self.journal, self.cancel, self.heartbeat = (
            session.journal, session.cancel, session.heartbeat,
        )  # fmt: skip
        self._warned: set[str] = set()  # warnings already in the log from this runner
        self.loaded = job_recipe(self.store, job, deps.load_recipe)
        self.recipe = self.loaded.recipe
        self.params: dict[str, Any] = job["params"]
        self.options: dict[str, Any] = job["options"]
        self.workspace = Path(job["workspace"])
        events = self.store.read_events(self.job_id)
        snapshots = policy_snapshots(job, events)
        # Policy files edited since the job started vote beside their snapshots (never looser).
        self.changed_policies = changed_policy_files(snapshots)
        self.policy: PolicySet = load_policy_set(snapshots + self.changed_policies)
        self.applied_policy_seqs = {e.seq for e in events if e.type == POLICY_ADDED}
        self.mask_with(job_redactor(self.recipe, self.policy, deps.env, self.workspace))
        self.index = ReplayIndex.from_events(events)
        self.session_start = time.monotonic()
        self.steps_view: list[dict[str, Any]] = [
            {"id": s.id, "kind": s.kind, "state": StepState.PENDING} for s in self.recipe.steps
        ]
        for view in self.steps_view:
            done = self.index.steps.get(view["id"])
            if done:
                view["state"] = done.state
                self.show_output(view, done.output)

    def mask_with(self, redactor: Redactor) -> None:
        """Mask secrets with `redactor` from now on, in the log as on the screen."""
        self.redactor = redactor
        self.journal.mask = redactor.mask_json

    def apply_limit_changes(self) -> None:
        """Limits changed with `resume --limit` (now or by an earlier resume) replace the
        recipe's, job-wide and in each step; a policy's limits still cap them."""
        if self.index.limits:
            self.recipe = with_limits(self.recipe, self.index.limits)

    def active_seconds(self) -> float:
        """Time the job has run, over all its runners (the job's timeout counts this)."""
        return self.index.active_seconds + (time.monotonic() - self.session_start)

    def warn_once(self, message: str) -> None:
        """A warning in the log, once per runner for the same words (a scan that finds the
        workspace too large says so before every action otherwise)."""
        if message in self._warned:
            return
        self._warned.add(message)
        self.journal.add(JobWarning(message=message))
        self.journal.commit()

    def set_step_state(self, step_id: str, state: str, event: StepStarted | StepFinished) -> None:
        for view in self.steps_view:
            if view["id"] == step_id:
                view["state"] = state
        self.journal.add(event, step_id, set_fields={"steps": self.steps_view})
        self.journal.commit()

    def show_output(self, view: dict[str, Any], output: str) -> None:
        """The job row's copy of a step's output (`steps[].output`): masked and capped, so
        listing jobs stays small; the whole output stays in the step_finished event."""
        view.pop("output", None)
        view.pop("output_truncated", None)
        if not output:
            return
        output = self.redactor.mask(output)
        view["output"] = output[:STEP_OUTPUT_CAP]
        if len(output) > STEP_OUTPUT_CAP:
            view["output_truncated"] = True

    def finish_step(self, step_id: str, state: str, output: str, error: str = "") -> None:
        finished = StepFinished(state=state, output=output, error=error)
        for view in self.steps_view:
            if view["id"] == step_id:
                self.show_output(view, output)
        self.set_step_state(step_id, state, finished)
        self.index.steps[step_id] = finished
