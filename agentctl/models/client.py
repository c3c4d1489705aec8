"""What the engine asks of a model client (`ModelClient`, a Protocol): the live client
(agentctl.models.calls.LiteLLMClient), the replaying one (agentctl.models.replay) and the
tests' scripted models all satisfy it, so the engine needs no `hasattr`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from agentctl.models.bounds import CallBounds
from agentctl.models.messages import Message, ToolSchema
from agentctl.models.replies import ModelReply

# Masking walks JSON-like data of any shape (agentctl.redact.Redactor.mask_data).
Mask = Callable[[Any], Any]


class ModelClient(Protocol):
    """A model client as the engine uses it.

    `mask` is set by the runner to the job's redactor, so what a client records is stored
    masked like the log; `spent` (role -> USD) is seeded from the log when a job resumes, so
    per-role budgets count what was spent before this run."""

    mask: Mask
    spent: dict[str, float]

    def estimate_call_cost(self, role: str, messages: list[Message]) -> float:
        """The least the next call of `role` with `messages` can cost (0.0 when unknown)."""
        ...

    def complete(
        self,
        role: str,
        messages: list[Message],
        tools: list[ToolSchema],
        *,
        call_index: int,
        on_text: Callable[[str], None] | None = None,
        bounds: CallBounds | None = None,
    ) -> ModelReply:
        """The reply of the role's model (or a fallback's); ModelError when none answered."""
        ...

    def close(self) -> None:
        """Stop what the client started (local model servers); called when a job's steps end."""
        ...
