"""Step kinds: one executor per kind of recipe step, looked up in one table.

A recipe step has exactly one kind (`agentctl.recipe.schema.STEP_KINDS`); the runner hands
it to `EXECUTORS[step.kind]`, which runs it through what the runner offers (`StepRun`, in
steps/base.py) and returns the step's output. To add a kind: its field in the recipe schema,
one executor module here, and its line in `EXECUTORS` (CONTRIBUTING.md, "Adding a step kind").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from agentctl.engine.steps.agent import EXECUTOR as AGENT
from agentctl.engine.steps.approval import EXECUTOR as APPROVAL
from agentctl.engine.steps.base import StepExecutor, StepRun
from agentctl.engine.steps.run import EXECUTOR as RUN

if TYPE_CHECKING:
    from agentctl.recipe.schema import Recipe, Step

__all__ = ["EXECUTORS", "StepExecutor", "StepRun", "calls_model", "execute_step"]

EXECUTORS: Mapping[str, StepExecutor] = {RUN.kind: RUN, AGENT.kind: AGENT, APPROVAL.kind: APPROVAL}


def execute_step(run: StepRun, step: Step) -> str:
    return EXECUTORS[step.kind].execute(run, step)


def model_roles(steps: Sequence[Step]) -> set[str]:
    """The model roles a recipe's steps call."""
    return {role for step in steps for role in EXECUTORS[step.kind].model_roles(step)}


def calls_model(kind: str) -> bool:
    """Whether a step of this kind waits for a model (the live view's spinner says so)."""
    executor = EXECUTORS.get(kind)
    return executor is not None and executor.calls_model


def mcp_servers(recipe: Recipe, step: Step) -> dict[str, list[str]]:
    """{server: the `tools:` patterns naming it} for the MCP servers one step uses."""
    return EXECUTORS[step.kind].mcp_servers(recipe, step)


def with_limits(recipe: Recipe, limits: Mapping[str, float]) -> Recipe:
    """The recipe under limits changed with `resume --limit`: they replace the recipe's,
    job-wide and in each step that has its own."""
    steps = [EXECUTORS[step.kind].with_limits(step, limits) for step in recipe.steps]
    return recipe.model_copy(
        update={"limits": recipe.limits.model_copy(update=dict(limits)), "steps": steps}
    )
