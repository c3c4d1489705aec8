"""`run:` steps: one shell command, decided by the policy like any action; fails on non-zero."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentctl.engine.steps.base import ModellessStep
from agentctl.engine.stops import StepFailed

if TYPE_CHECKING:
    from agentctl.engine.steps.base import StepRun
    from agentctl.recipe.schema import Step
    from agentctl.tools.base import ToolResult


def how_it_failed(result: ToolResult) -> str:
    """A failed command's end in words, for the job's error message."""
    if result.error in (None, "nonzero_exit") and result.exit_code is not None:
        return f"failed with exit {result.exit_code}"
    return {"timeout": "timed out", "cancelled": "was cancelled"}.get(
        result.error or "", f"failed ({result.error})" if result.error else "failed"
    )


class RunStep(ModellessStep):
    kind = "run"

    def execute(self, run: StepRun, step: Step) -> str:
        assert step.run is not None  # EXECUTORS hands this executor run steps only
        result = run.run_shell(
            step=step.id,
            key=f"{step.id}/run",
            command=run.render(step.run, shell=True),
            timeout=step.timeout,
            idempotent=step.idempotent,
        )
        if not result.ok:
            raise StepFailed(
                f"step {step.id}: `{step.run.strip()}` {how_it_failed(result)}",
                f"see its output with `agentctl log {run.job_id}`",
            )
        return result.output


EXECUTOR = RunStep()
