"""The steps loop: each step the log does not hold as done runs, in order, through its
executor (engine/steps), with what a run offers a step (`StepRun`): its actions, the gate,
the MCP servers, the model client, templates rendered from the job's context."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

from agentctl.engine.actions import ActionContext, ActionRunner
from agentctl.engine.approvals import Gate
from agentctl.engine.run.policies import deciding_with_added_policies
from agentctl.engine.run.state import RunState
from agentctl.engine.steps import execute_step, mcp_servers
from agentctl.engine.stops import JobFailure
from agentctl.events import StepStarted, StepState

if TYPE_CHECKING:
    from agentctl.engine.mcp import McpRun
    from agentctl.models.client import ModelClient
    from agentctl.recipe.schema import Step
    from agentctl.tools.base import ToolResult


def run_steps(run: RunState) -> None:
    """Run every step the log does not hold as done, in order; the MCP servers the
    remaining steps use start first, and they and the model stop at the end."""
    ctx = action_context(run)
    approver = run.deps.approver
    if approver is None and run.deps.detached:
        from agentctl.engine.approvals import decision_waiter

        approver = decision_waiter(run.store, run.job_id, run.cancel)
    gate = Gate(
        run.store, run.journal, run.index, approver,
        expires_after=run.policy.approval_expires_after,
    )  # fmt: skip
    actions = ActionRunner(run.journal, run.index, gate, ctx)
    loop = StepsLoop(run, ctx, gate, actions, start_mcp(run, ctx, gate))
    try:
        loop.run_each_step()
    finally:
        loop.close()


def action_context(run: RunState) -> ActionContext:
    """What the run's actions run with (engine/context.py), under the run's policies."""
    from agentctl.engine.context import build_action_context
    from agentctl.policy.urls import make_url_checker

    ctx = build_action_context(
        recipe=run.recipe,
        job=run.store.get_job(run.job_id),
        workspace=run.workspace,
        env=run.deps.env,
        cancel=run.cancel,
        active_seconds=run.index.active_seconds,
        db_path=run.store.db_file,
        policy=run.policy,
        warn=run.warn_once,
    )
    ctx.url_checker = make_url_checker(run.policy, run.workspace)
    ctx.mask = run.redactor.mask
    ctx.decide = deciding_with_added_policies(run, ctx)
    return ctx


def start_mcp(run: RunState, ctx: ActionContext, gate: Gate) -> McpRun | None:
    """Start the MCP servers the remaining steps use (none: None), before any step."""
    recipe = run.recipe
    if not recipe.mcp:
        return None
    from agentctl.engine.mcp import McpRun, read_only_checker

    done = run.index.steps
    remaining = [
        s for s in recipe.steps if getattr(done.get(s.id), "state", None) != StepState.SUCCEEDED
    ]
    uses = [(s.id, mcp_servers(recipe, s)) for s in remaining]
    if not any(servers for _, servers in uses):
        return None
    from agentctl.engine.mcp import servers_needed
    from agentctl.tools.mcp_client import McpHub, plan_servers

    hub = McpHub(
        plan_servers(recipe.mcp, env=run.deps.env, workspace=run.workspace, sandbox=ctx.sandbox)
    )
    mcp = McpRun(
        hub=hub, journal=run.journal, index=run.index, gate=gate,
        read_only=read_only_checker(recipe, run.policy),
    )  # fmt: skip
    try:
        mcp.start(uses, servers_needed(mcp_servers(recipe, s) for s in recipe.steps))
    except BaseException:
        mcp.close()
        raise
    return mcp


class StepsLoop:
    """Runs the steps; to the executor of each it is the `StepRun` (engine/steps/base.py)."""

    def __init__(
        self, run: RunState, ctx: ActionContext, gate: Gate, actions: ActionRunner,
        mcp: McpRun | None,
    ):  # fmt: skip
        self.run, self.ctx = run, ctx
        self.job_id, self.recipe = run.job_id, run.recipe
        self.journal, self.index = run.journal, run.index
        self.gate, self.actions, self.mcp = gate, actions, mcp
        self.outputs: dict[str, dict[str, str]] = {}
        self.env_values = {name: run.deps.env.get(name, "") for name in run.recipe.env}
        self._model: ModelClient | None = None

    def run_each_step(self) -> None:
        for step in self.recipe.steps:
            done = self.index.steps.get(step.id)
            if done is not None and done.state == StepState.SUCCEEDED:
                self.outputs[step.id] = {"output": done.output}
                continue
            self.actions.check_cancel()
            self.run.set_step_state(step.id, StepState.RUNNING, StepStarted(kind=step.kind))
            self.outputs[step.id] = {"output": self._run_one(step)}
            self.run.finish_step(step.id, StepState.SUCCEEDED, self.outputs[step.id]["output"])

    def _run_one(self, step: Step) -> str:
        self.ctx.sessions = {}
        try:
            return execute_step(self, step)
        except JobFailure as failure:
            self.run.finish_step(step.id, StepState.FAILED, "", failure.message)
            raise
        finally:
            if self.ctx.sessions:
                from agentctl.tools.interactive import close_sessions

                close_sessions(self.ctx.sessions)

    def close(self) -> None:
        """The run's MCP servers and local model servers stop with its steps."""
        if self.mcp is not None:
            self.mcp.close()
        if self._model is not None:
            self._model.close()

    # -- what a step executor (engine/steps) uses ----------------------------------------

    def render(self, template: str, *, shell: bool = False) -> str:
        from agentctl.recipe.templates import render_template

        context = {"params": self.run.params, "steps": self.outputs, "env": self.env_values}
        return render_template(template, context, shell=shell)

    def run_shell(
        self, *, step: str, key: str, command: str, timeout: float | None = None,
        idempotent: bool = False,
    ) -> ToolResult:  # fmt: skip
        from agentctl.tools.function import FunctionTool
        from agentctl.tools.toolbox import build_toolbox

        shell = build_toolbox({}, ["shell"])["shell"]
        if idempotent:  # the recipe says running it twice is harmless
            assert isinstance(shell, FunctionTool)
            shell = dataclasses.replace(
                shell, spec=dataclasses.replace(shell.spec, idempotent=True)
            )
        return self.actions.run(
            step=step, key=key, name="shell", tool=shell, args={"command": command}, timeout=timeout
        )

    def model_client(self) -> ModelClient:
        """The job's model client, made at the first call: its recordings masked like the
        log, its per-role budgets counting what the log says was spent before this runner."""
        if self._model is None:
            model = self.run.deps.model_factory(self.recipe, self.run.options)
            model.mask = self.run.redactor.mask_data
            for record in self.index.models.values():
                reply = record.reply
                who = reply.get("answered_by") or reply["role"]  # a fallback role's own
                model.spent[who] = model.spent.get(who, 0.0) + reply["cost_usd"]
            self._model = model
        return self._model

    def masked_text(self) -> Callable[[str], None] | None:
        """Streamed model text goes to the screen masked, chunk by chunk."""
        show = self.run.deps.on_text
        if show is None:
            return None
        return lambda text: show(self.run.redactor.mask(text))

    def active_seconds(self) -> float:
        return self.run.active_seconds()
