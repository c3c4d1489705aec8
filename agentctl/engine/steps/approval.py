"""`approval:` steps: a person approves the rendered message, or the step fails."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentctl.engine.steps.base import ModellessStep
from agentctl.engine.stops import StepFailed
from agentctl.events import ApprovalAnswer

if TYPE_CHECKING:
    from agentctl.engine.steps.base import StepRun
    from agentctl.recipe.schema import Step


class ApprovalStep(ModellessStep):
    kind = "approval"

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


EXECUTOR = ApprovalStep()
