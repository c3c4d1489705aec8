"""Step kinds: one executor per kind of recipe step, looked up in one table.

A recipe step has exactly one kind (`agentctl.recipe.schema.STEP_KINDS`); the runner hands
it to `EXECUTORS[step.kind]`, which runs it through what the runner offers (`StepRun`) and
returns the step's output. To add a kind: its field in the recipe schema, one executor
module here, and its line in `EXECUTORS` (CONTRIBUTING.md, "Adding a step kind").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from agentctl.engine.steps.agent import EXECUTOR as AGENT
from agentctl.engine.steps.approval import EXECUTOR as APPROVAL
from agentctl.engine.steps.run import EXECUTOR as RUN

if TYPE_CHECKING:
    from agentctl.engine.actions import ActionRunner
    from agentctl.engine.approvals import Gate
    from agentctl.engine.journal import Journal, ReplayIndex
    from agentctl.tools.base import ToolResult


class StepRun(Protocol):
    """What a runner offers the step it runs."""

    job_id: str
    recipe: Any
    journal: Journal
    index: ReplayIndex
    actions: ActionRunner
    gate: Gate
    mcp: Any  # the run's MCP servers (engine/mcp.McpRun), or None

    def render(self, template: str, *, shell: bool = False) -> str: ...

    def run_shell(
        self,
        *,
        step: str,
        key: str,
        command: str,
        timeout: float | None = None,
        idempotent: bool = False,
    ) -> ToolResult: ...

    def model_client(self) -> Any: ...

    def masked_text(self) -> Callable[[str], None] | None: ...

    def active_seconds(self) -> float: ...


class StepExecutor(Protocol):
    """How one kind of step runs, and which model roles it calls (checked before a job
    starts, so a missing API key is reported up front)."""

    kind: str
    calls_model: bool

    def execute(self, run: StepRun, step: Any) -> str: ...

    def model_roles(self, step: Any) -> set[str]: ...


EXECUTORS: Mapping[str, StepExecutor] = {RUN.kind: RUN, AGENT.kind: AGENT, APPROVAL.kind: APPROVAL}


def execute_step(run: StepRun, step: Any) -> str:
    return EXECUTORS[step.kind].execute(run, step)


def model_roles(steps: list[Any]) -> set[str]:
    """The model roles a recipe's steps call."""
    return {role for step in steps for role in EXECUTORS[step.kind].model_roles(step)}


def calls_model(kind: str) -> bool:
    """Whether a step of this kind waits for a model (the live view's spinner says so)."""
    executor = EXECUTORS.get(kind)
    return executor is not None and executor.calls_model
