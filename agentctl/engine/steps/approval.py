"""`approval:` steps: a person approves the rendered message, or the step fails."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentctl.engine.stops import StepFailed
from agentctl.events import ApprovalAnswer

if TYPE_CHECKING:
    from agentctl.engine.steps import StepRun


class ApprovalStep:
    kind = "approval"
    calls_model = False

    def execute(self, run: StepRun, step: Any) -> str:
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

    def model_roles(self, step: Any) -> set[str]:
        return set()


EXECUTOR = ApprovalStep()
