"""The job runner: takes the lease, replays the log, runs the remaining steps, ends the job.

One runner per job (the lease); its writes are fenced by the lease token. Nothing here prints
or exits: progress goes out as events through `on_event`, and the outcome is returned.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentctl.engine.actions import ActionRunner
from agentctl.engine.approvals import Approver, Gate
from agentctl.engine.git_workspace import ensure_git_workspace, git_source, push_git_workspace
from agentctl.engine.heartbeat import Beat, BeatFactory, Heartbeat
from agentctl.engine.journal import Journal, ReplayIndex
from agentctl.engine.policy_updates import (
    POLICY_ADDED,
    changed_policy_files,
    load_policy_set,
    policy_snapshots,
)
from agentctl.engine.secrets import job_redactor
from agentctl.engine.signals import Interrupt, install_sigterm, restore_sigterm, signals_ignored
from agentctl.engine.steps import execute_step
from agentctl.engine.stops import Cancelled, JobFailure, Parked
from agentctl.errors import AgentctlError, LeaseLost, UsageError
from agentctl.events import (
    EXIT_CODES,
    TERMINAL_STATES,
    EventType,
    JobCancelled,
    JobEvent,
    JobFailed,
    JobInterrupted,
    JobPaused,
    JobState,
    JobSucceeded,
    JobWarning,
    LimitsChanged,
    PolicyAdded,
    PolicyApplied,
    RunnerStarted,
    StepFinished,
    StepStarted,
    StepState,
)
from agentctl.process.procinfo import ProcessIdentity, current_process, is_process_alive
from agentctl.store import Event, JobRecord, Store, StoreUnavailable
from agentctl.telemetry import start_job_trace

# `steps[].output` in job JSON keeps this many characters; `log --json` has all of it.
STEP_OUTPUT_CAP = 4000


@dataclass
class RunnerDeps:
    """What a runner needs from the outside; tests replace any of it."""

    store: Store
    model_factory: Callable[[Any, Mapping[str, Any]], Any]
    clock: Callable[[], float] = time.time
    identity: ProcessIdentity = field(default_factory=current_process)
    is_alive: Callable[[int, str], bool] = is_process_alive
    approver: Approver | None = None
    on_event: Callable[[Event], None] | None = None
    on_text: Callable[[str], None] | None = None
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    lease_ttl: float = 15.0
    heartbeat_interval: float = 0.25
    # A job forked by a warm worker hears its worker's beats instead (`parent_beat`).
    heartbeat: BeatFactory = Heartbeat
    limits: Mapping[str, float] = field(default_factory=dict)  # `resume --limit KEY=VALUE`
    # A lease a worker claimed for this runner (its fencing token), adopted instead of taken.
    claimed_token: int | None = None
    # Runs in the background (`run --detach`): with no approver, it waits for each decision
    # made elsewhere instead of parking, and an approval restarts it if it is gone.
    detached: bool = False


@dataclass
class Outcome:
    job_id: str
    state: str
    exit_code: int
    error: dict[str, str] | None = None
    pending: list[dict[str, Any]] = field(default_factory=list)


def run_job(job_id: str, deps: RunnerDeps) -> Outcome:
    """Run (or resume) a job until it ends or parks."""
    store = deps.store
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
    me = deps.identity
    if deps.claimed_token is not None:
        token = deps.claimed_token
        store.adopt_lease(
            job_id, token, host=me.host, pid=me.pid, start=me.start, now=deps.clock(),
            ttl=deps.lease_ttl,
        )  # fmt: skip
    else:
        token = store.acquire_lease(
            job_id,
            host=me.host,
            pid=me.pid,
            start=me.start,
            now=deps.clock(),
            ttl=deps.lease_ttl,
            is_alive=deps.is_alive,
            hold_workspace=True,  # one job per workspace (or WorkspaceBusy, exit 2)
        )
    if git_source(job) is not None:  # cloned here, once the lease says this runner has it
        try:
            job = ensure_git_workspace(store, job, token, deps.clock)
        except AgentctlError:
            store.release_lease(job_id, token)
            raise
    cancel = threading.Event()
    heartbeat = deps.heartbeat(
        store,
        job_id,
        token,
        ttl=deps.lease_ttl,
        interval=deps.heartbeat_interval,
        clock=deps.clock,
        cancel=cancel,
        seen_seq=job["last_seq"],
    )
    # Traces only when an OTLP endpoint is configured; otherwise OpenTelemetry is not imported.
    trace = start_job_trace(job_id, str(job.get("recipe") or ""), deps.env)
    on_event = trace.chain(deps.on_event) if trace is not None else deps.on_event
    journal = Journal(store, job_id, token, deps.clock, on_event)
    previous_sigterm = install_sigterm()
    try:
        heartbeat.start()
        return _Run(job_id, job, deps, journal, cancel, heartbeat).execute()
    finally:
        if trace is not None:
            trace.finish(deps.clock())
        heartbeat.stop()
        restore_sigterm(previous_sigterm)
        try:
            store.release_lease(job_id, token)
        except Exception:
            pass


# Failures whose cause lies outside the job (a key, a server, a limit): once it is fixed, the
# job continues from its log; nothing it did is done again.
RESUMABLE_FAILURES = ("model", "limit")


def can_resume_failed(store: Store, job: Mapping[str, Any]) -> bool:
    """A failed job can be resumed when it failed on a model error or a limit and its file
    changes were not rolled back (replaying its actions would then describe files that are
    not there)."""
    if job["state"] != "failed" or job["error_type"] not in RESUMABLE_FAILURES:
        return False
    return not store.read_events(job["id"], types=[EventType.ROLLBACK], limit=1)


def _close_sessions(sessions: dict[str, Any]) -> None:
    if sessions:
        from agentctl.tools.interactive import close_sessions

        close_sessions(sessions)


class _Run:
    def __init__(
        self,
        job_id: str,
        job: JobRecord,
        deps: RunnerDeps,
        journal: Journal,
        cancel: threading.Event,
        heartbeat: Beat,
    ):
        from agentctl.recipe.load import load_recipe_text

        self.job_id = job_id
        self.job = job
        self.deps = deps
        self.store = deps.store
        self.journal = journal
        self.cancel = cancel
        self.heartbeat = heartbeat
        self._warned: set[str] = set()  # warnings already in the log from this runner
        text = self.store.recipe_text(job)
        path = Path(job["recipe_path"]) if job["recipe_path"] else None
        self.loaded = load_recipe_text(
            text, str(path or job["recipe"]), base_dir=path.parent if path else None
        )
        self.recipe = self.loaded.recipe
        self.params = job["params"]
        self.options = job["options"]
        self.workspace = Path(job["workspace"])
        events = self.store.read_events(job_id)
        snapshots = policy_snapshots(job, events)
        # Policy files edited since the job started vote beside their snapshots (never looser).
        self.changed_policies = changed_policy_files(snapshots)
        self.policy = load_policy_set(snapshots + self.changed_policies)
        self.applied_policy_seqs = {e.seq for e in events if e.type == POLICY_ADDED}
        self.redactor = job_redactor(self.recipe, self.policy, deps.env, self.workspace)
        journal.mask = self.redactor.mask_json
        self.index = ReplayIndex.from_events(events)
        self.session_start = time.monotonic()
        self.outputs: dict[str, dict[str, str]] = {}
        self.steps_view = [
            {"id": s.id, "kind": s.kind, "state": StepState.PENDING} for s in self.recipe.steps
        ]
        for view in self.steps_view:
            done = self.index.steps.get(view["id"])
            if done:
                view["state"] = done.state
                self._show_output(view, done.output)

    # -- the run as a whole --------------------------------------------------------------

    def execute(self) -> Outcome:
        me = self.deps.identity
        resumed = bool(self.index.steps or self.index.models or self.index.started)
        self.journal.add(
            RunnerStarted(
                pid=me.pid,
                host=me.host,
                token=self.journal.token,
                resumed=resumed,
                detached=bool(self.deps.detached),
            ),
            set_fields={
                "state": JobState.RUNNING,
                "steps": self.steps_view,
                "cancel_requested": 0,
                "error_type": None,
                "error_message": None,
            },
        )
        for changed in self.changed_policies:
            by = "the file changed since the job started"
            self.journal.add(PolicyAdded(path=changed["path"], text=changed["text"], by=by))
        if self.deps.limits:
            limits = dict(self.deps.limits)
            self.journal.add(LimitsChanged(limits=limits))
            self.index.limits.update(limits)
        self.journal.commit()
        self._apply_limit_changes()
        try:
            self._run_steps()
            push_git_workspace(self.store, self.job, self.journal)
        except Parked as parked:
            if self.cancel.is_set() or self.store.cancel_requested(self.job_id):
                return self._end(JobState.CANCELLED, JobCancelled(by="cancel request"))
            return self._end(
                JobState.AWAITING_APPROVAL,
                JobPaused(requests=[p["request"] for p in parked.requests]),
                pending=parked.requests,
            )
        except Cancelled:
            if self.heartbeat.store_lost:
                self._lost_the_database()
                raise StoreUnavailable(
                    f"lost the database while job {self.job_id} ran: its tools were stopped"
                    " before its lease could lapse",
                    f"the job stays resumable: once the database is back, `agentctl resume"
                    f" {self.job_id}` (or a worker) continues it",
                    exit_code=130,
                ) from None
            if self.heartbeat.lease_lost:
                raise LeaseLost(
                    f"job {self.job_id} was taken over by another runner",
                    f"see `agentctl status {self.job_id}`",
                ) from None
            return self._end(JobState.CANCELLED, JobCancelled(by="cancel request"))
        except (KeyboardInterrupt, Interrupt):
            with signals_ignored():  # a second Ctrl-C must not cut the write short
                return self._end(JobState.INTERRUPTED, JobInterrupted(reason="interrupted"))
        except LeaseLost:
            raise
        except StoreUnavailable:
            self._lost_the_database()
            raise
        except JobFailure as failure:
            return self._fail(failure.type, failure.message)
        except AgentctlError as error:
            if error.exit_code == 1:
                kind = type(error).__name__.replace("Error", "").lower() or "error"
                return self._fail(kind, error.message)
            self._end(JobState.INTERRUPTED, JobInterrupted(reason=error.message))
            raise
        except BaseException as error:
            # A bug in agentctl must not lose the job: it stays resumable.
            self.journal.discard()
            reason = f"internal error: {type(error).__name__}: {error}"
            self._end(JobState.INTERRUPTED, JobInterrupted(reason=reason))
            raise
        return self._end(JobState.SUCCEEDED, JobSucceeded())

    def _lost_the_database(self) -> None:
        """The database went away for longer than the store retries (or than the lease
        allows): say so if it is back, else the lease runs out and the job shows (and
        resumes) as interrupted."""
        self.journal.discard()
        try:
            self._end(JobState.INTERRUPTED, JobInterrupted(reason="lost the database"))
        except AgentctlError:
            pass

    def _apply_limit_changes(self) -> None:
        """Limits changed with `resume --limit` (now or by an earlier resume) replace the
        recipe's, job-wide and in each agent step; a policy's limits still cap them."""
        changed = self.index.limits
        if not changed:
            return
        recipe = self.recipe
        steps = [
            step.model_copy(
                update={
                    "agent": step.agent.model_copy(
                        update={
                            k: changed[k] for k in ("max_turns", "max_tool_calls") if k in changed
                        }
                    )
                }
            )
            if step.agent is not None
            else step
            for step in recipe.steps
        ]
        self.recipe = recipe.model_copy(
            update={"limits": recipe.limits.model_copy(update=changed), "steps": steps}
        )

    def _fail(self, kind: str, message: str) -> Outcome:
        if self.recipe.on_failure == "rollback":
            self._roll_back()
        error = {"type": kind, "message": message}
        return self._end(JobState.FAILED, JobFailed(error=error), error=dict(error))

    def _roll_back(self) -> None:
        """`on_failure: rollback`: undo the job's file changes before it ends failed."""
        from agentctl.engine.rollback import rollback_with_lease

        self.journal.commit()
        try:
            rollback_with_lease(
                self.store, self.job_id, token=self.journal.token, clock=self.deps.clock
            )
        except AgentctlError as error:
            self._warn_once(f"on_failure rollback did not finish: {error.message}")

    def _end(
        self,
        state: JobState,
        event: JobEvent,
        error: dict[str, str] | None = None,
        pending: list[dict[str, Any]] | None = None,
    ) -> Outcome:
        for view in self.steps_view:
            if view["state"] == StepState.RUNNING:  # the step the job stopped in says how
                view["state"] = StepState(state)
        fields: dict[str, Any] = {"state": state, "steps": self.steps_view}
        if error:
            fields.update(error_type=error["type"], error_message=error["message"])
        self.journal.add(event, set_fields=fields)
        self.journal.commit()
        return Outcome(self.job_id, state, EXIT_CODES[state], error, pending or [])

    # -- steps ---------------------------------------------------------------------------

    def _run_steps(self) -> None:
        from agentctl.engine.context import build_action_context

        recipe = self.recipe
        self.env_values = {name: self.deps.env.get(name, "") for name in recipe.env}
        ctx = build_action_context(
            recipe=recipe,
            job=self.store.get_job(self.job_id),
            workspace=self.workspace,
            env=self.deps.env,
            cancel=self.cancel,
            active_seconds=self.index.active_seconds,
            db_path=self.store.db_file,
            policy=self.policy,
            warn=self._warn_once,
        )
        from agentctl.policy.urls import make_url_checker

        ctx.url_checker = make_url_checker(self.policy, self.workspace)
        ctx.mask = self.redactor.mask
        ctx.decide = self._deciding_with_added_policies(ctx)
        approver = self.deps.approver
        if approver is None and self.deps.detached:
            from agentctl.engine.approvals import decision_waiter

            approver = decision_waiter(self.store, self.job_id, self.cancel)
        gate = Gate(
            self.store,
            self.journal,
            self.index,
            approver,
            expires_after=self.policy.approval_expires_after,
        )
        self.actions = ActionRunner(self.journal, self.index, gate, ctx)
        self.gate = gate
        self._model: Any = None
        self.mcp = self._start_mcp(ctx)
        try:
            self._run_each_step(ctx)
        finally:
            if self.mcp is not None:
                self.mcp.close()
            close_model = getattr(self._model, "close", None)
            if close_model is not None:  # local model servers stop with the job's steps
                close_model()

    def _start_mcp(self, ctx):
        """Start the MCP servers the remaining steps use (none: None), before any step."""
        recipe = self.recipe
        remaining = [
            s
            for s in recipe.steps
            if getattr(self.index.steps.get(s.id), "state", None) != StepState.SUCCEEDED
        ]
        if not recipe.mcp:
            return None
        from agentctl.engine.mcp import McpRun, read_only_checker, servers_needed

        if not servers_needed(recipe, remaining):
            return None
        from agentctl.tools.mcp_client import McpHub, plan_servers

        hub = McpHub(
            plan_servers(
                recipe.mcp,
                env=self.deps.env,
                workspace=self.workspace,
                sandbox=ctx.sandbox,
            )
        )
        run = McpRun(
            recipe=recipe,
            hub=hub,
            journal=self.journal,
            index=self.index,
            gate=self.gate,
            read_only=read_only_checker(recipe, self.policy),
        )
        try:
            run.start(remaining)
        except BaseException:
            run.close()
            raise
        return run

    def _run_each_step(self, ctx) -> None:
        recipe = self.recipe
        for step in recipe.steps:
            done = self.index.steps.get(step.id)
            if done is not None and done.state == StepState.SUCCEEDED:
                self.outputs[step.id] = {"output": done.output}
                continue
            self.actions.check_cancel()
            self._set_step_state(step.id, StepState.RUNNING, StepStarted(kind=step.kind))
            ctx.sessions = {}
            try:
                output = execute_step(self, step)
            except JobFailure as failure:
                self._finish_step(step.id, StepState.FAILED, "", failure.message)
                raise
            finally:
                _close_sessions(ctx.sessions)
            self.outputs[step.id] = {"output": output}
            self._finish_step(step.id, StepState.SUCCEEDED, output)

    def _deciding_with_added_policies(self, ctx: Any) -> Any:
        """Before each decision, apply the policies `agentctl policy add` attached meanwhile."""
        base = ctx.decide

        def decide(name: str, args: dict[str, Any], tool: Any) -> Any:
            for event in self.heartbeat.take_added_policies():
                if event.seq not in self.applied_policy_seqs:
                    self.applied_policy_seqs.add(event.seq)
                    self._apply_policy(ctx, event)
            return base(name, args, tool)

        return decide

    def _apply_policy(self, ctx: Any, event: Any) -> None:
        from agentctl.policy.rules import load_policy_text

        path = event.data.get("path") or "<added policy>"
        policy = load_policy_text(event.data["text"], path)
        self.policy.policies.append(policy)
        limits = policy.limits
        for name in ("max_turns", "max_tool_calls", "max_cost_usd", "timeout", "max_repeats"):
            value = getattr(limits, name, None)
            current = getattr(ctx.limits, name)
            if value is not None and (current is None or value < current):
                setattr(ctx.limits, name, value)
                if name == "timeout":
                    spent = self.index.active_seconds + (time.monotonic() - self.session_start)
                    ctx.deadline = time.monotonic() + value - spent
        if limits.tool_timeout is not None:
            cap = ctx.tool_timeout_cap
            ctx.tool_timeout_cap = (
                limits.tool_timeout if cap is None else min(cap, limits.tool_timeout)
            )
        ctx.sandbox = ctx.sandbox.narrowed(
            network=policy.network, read_only_workspace=self.policy.allows_no_writes
        )
        self.redactor = job_redactor(self.recipe, self.policy, self.deps.env, self.workspace)
        self.journal.mask = self.redactor.mask_json
        ctx.mask = self.redactor.mask
        self.journal.add(PolicyApplied(seq=event.seq, path=path))

    def _warn_once(self, message: str) -> None:
        """A warning in the log, once per runner for the same words (a scan that finds the
        workspace too large says so before every action otherwise)."""
        if message in self._warned:
            return
        self._warned.add(message)
        self.journal.add(JobWarning(message=message))
        self.journal.commit()

    def _set_step_state(self, step_id: str, state: str, event: StepStarted | StepFinished) -> None:
        for view in self.steps_view:
            if view["id"] == step_id:
                view["state"] = state
        self.journal.add(event, step_id, set_fields={"steps": self.steps_view})
        self.journal.commit()

    def _show_output(self, view: dict[str, Any], output: str) -> None:
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

    def _finish_step(self, step_id: str, state: str, output: str, error: str = "") -> None:
        finished = StepFinished(state=state, output=output, error=error)
        for view in self.steps_view:
            if view["id"] == step_id:
                self._show_output(view, output)
        self._set_step_state(step_id, state, finished)
        self.index.steps[step_id] = finished

    def _context(self) -> dict[str, Any]:
        return {"params": self.params, "steps": self.outputs, "env": self.env_values}

    # -- what a step executor (engine/steps) uses ----------------------------------------

    def render(self, template: str, *, shell: bool = False) -> str:
        from agentctl.recipe.templates import render_template

        return render_template(template, self._context(), shell=shell)

    def run_shell(
        self,
        *,
        step: str,
        key: str,
        command: str,
        timeout: float | None = None,
        idempotent: bool = False,
    ):
        import dataclasses

        from agentctl.tools.toolbox import build_toolbox

        shell = build_toolbox({}, ["shell"])["shell"]
        if idempotent:  # the recipe says running it twice is harmless
            from agentctl.tools.function import FunctionTool

            assert isinstance(shell, FunctionTool)
            shell = dataclasses.replace(
                shell, spec=dataclasses.replace(shell.spec, idempotent=True)
            )
        return self.actions.run(
            step=step, key=key, name="shell", tool=shell, args={"command": command}, timeout=timeout
        )

    def model_client(self):
        if self._model is None:
            self._model = self.deps.model_factory(self.recipe, self.options)
            if hasattr(self._model, "mask"):  # recordings are stored like the log: masked
                self._model.mask = self.redactor.mask_data
            spent = getattr(self._model, "spent", None)
            if isinstance(spent, dict):
                # Per-role budgets count what the log says was spent before this runner.
                for record in self.index.models.values():
                    reply = record.reply
                    who = reply.get("answered_by") or reply["role"]  # a fallback role's own
                    spent[who] = spent.get(who, 0.0) + reply["cost_usd"]
        return self._model

    def masked_text(self):
        """Streamed model text goes to the screen masked, chunk by chunk."""
        show = self.deps.on_text
        if show is None:
            return None
        return lambda text: show(self.redactor.mask(text))

    def active_seconds(self) -> float:
        """Time the job has run, over all its runners (the job's timeout counts this)."""
        return self.index.active_seconds + (time.monotonic() - self.session_start)
