"""Replaying a recorded run: answers from a cassette by call index, no network and no
litellm import (the file format is agentctl.models.cassette)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from agentctl.models import cassette
from agentctl.models.bounds import CallBounds
from agentctl.models.client import Mask
from agentctl.models.messages import Message, ToolSchema
from agentctl.models.replies import ModelError, ModelReply


class ReplayClient:
    """Answers from a cassette by call_index: no network, no litellm import."""

    def __init__(self, path: Path, mask: Mask | None = None):
        self.path = Path(path)
        self.entries = cassette.load_cassette(self.path)
        # Recordings hold masked text: compare what we would send, masked the same way.
        self.mask = mask or (lambda value: value)
        self.spent: dict[str, float] = {}

    def close(self) -> None:
        """Nothing to stop: a replay starts no server."""

    def estimate_call_cost(self, role: str, messages: list[Message]) -> float:
        return 0.0  # replays cost nothing

    def complete(
        self,
        role: str,
        messages: list[Message],
        tools: list[ToolSchema],
        *,
        call_index: int,
        on_text: Callable[[str], None] | None = None,
        bounds: CallBounds | None = None,  # a recorded answer comes at once
    ) -> ModelReply:
        entry = self.entries.get(call_index)
        hint = (
            "the run asked something the recording did not; record it again with --record FILE "
            f"(replaying {self.path})"
        )
        if entry is None:
            held = f"calls {min(self.entries)}-{max(self.entries)}" if self.entries else "no calls"
            raise ModelError(
                f"replay diverged at model call {call_index}: the recording has no "
                f"call {call_index} (it holds {held})",
                hint,
            )
        diff = cassette.describe_difference(entry.get("request") or {}, self.mask(messages), tools)
        if diff is None and entry.get("role", role) != role:
            diff = f"recorded role '{entry.get('role')}', now '{role}'"
        if diff:
            raise ModelError(f"replay diverged at model call {call_index}: {diff}", hint)
        reply = ModelReply.from_dict(entry["response"])
        self.spent[role] = self.spent.get(role, 0.0) + reply.cost_usd
        if on_text and reply.message.get("content"):
            on_text(reply.message["content"])
        return reply
