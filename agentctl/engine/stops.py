"""How a run stops early: failures with a type for the job's error, parking, cancel."""

from __future__ import annotations

from typing import Any

from agentctl.errors import AgentctlError


class JobFailure(AgentctlError):
    """The job failed; `type` goes into the job's error (`step_failed`, `limit`, `model`...)."""

    exit_code = 1

    def __init__(self, type_: str, message: str, hint: str = ""):
        super().__init__(message, hint)
        self.type = type_


class StepFailed(JobFailure):
    def __init__(self, message: str, hint: str = ""):
        super().__init__("step_failed", message, hint)


class LimitExceeded(JobFailure):
    def __init__(self, limit: str, message: str):
        super().__init__(
            "limit",
            message,
            f"raise it for this job and continue: `agentctl resume JOB --limit {limit}=...`",
        )
        self.limit = limit


class Parked(Exception):
    """The job waits for an approval that nobody here can give."""

    def __init__(self, requests: list[dict[str, Any]]):
        super().__init__("awaiting approval")
        self.requests = requests


class Cancelled(Exception):
    """A cancel was requested; the runner stops at a safe point."""
