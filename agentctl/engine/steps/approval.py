"""`approval:` steps: a person approves the rendered message, or the step fails."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from agentctl.engine.stops import StepFailed
from agentctl.events import ApprovalAnswer

if TYPE_CHECKING:
    from agentctl.engine.steps.base import StepRun
    from agentctl.recipe.schema import Recipe, Step


class ApprovalStep:
    kind = "approval"
    calls_model = False

    def execute(self, run: StepRun, step: Step) -> str:
        assert step.approval is not None  # EXECUTORS hands this executor approval steps only
        message = run.render(step.approval)
        decision, record = run.gate.require(
            step=step.id,
            key=f"{step.id}/gate",
            tool=None,
            args={"message": message},
            reason=message,
        )
        if decision == ApprovalAnswer.DENY:
            from agentctl.engine.approvals import person_denial

            raise StepFailed(f"step {step.id}: {message!r} was {person_denial(record)}")
        return "approved"

    def model_roles(self, step: Step) -> set[str]:
        return set()

    def mcp_servers(self, recipe: Recipe, step: Step) -> dict[str, list[str]]:
        return {}

    def with_limits(self, step: Step, limits: Mapping[str, float]) -> Step:
        return step


EXECUTOR = ApprovalStep()
