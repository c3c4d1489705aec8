"""A scripted in-process model for engine tests: answers in order, records what it was asked."""

from __future__ import annotations

import json
from typing import Any

from agentctl.models.calls import ModelReply


def tool_call(name: str, **args: Any) -> dict[str, Any]:
    return {"name": name, "arguments": args}


class ScriptExhausted(AssertionError):
    """The engine asked the model more often than the test scripted: a test bug or an engine
    bug, never something to answer with made-up text."""


class ScriptedModel:
    """`script` items: a string (final text) or a list of tool calls (from `tool_call`).

    A call beyond the script raises ScriptExhausted (the job then ends interrupted and the
    error reaches the test)."""

    def __init__(self, script: list[Any], cost_per_call: float = 0.001):
        self.script = list(script)
        self.calls: list[dict[str, Any]] = []
        self.cost_per_call = cost_per_call
        # The rest of agentctl.models.client.ModelClient: the runner sets `mask` and seeds
        # `spent`; a script records nothing and has no budget of its own.
        self.mask: Any = lambda value: value
        self.spent: dict[str, float] = {}

    def complete(
        self, role, messages, tools, *, call_index, on_text=None, bounds=None
    ) -> ModelReply:
        self.calls.append(
            {
                "role": role,
                "messages": json.loads(json.dumps(messages)),
                "tools": [t["function"]["name"] for t in tools],
                "call_index": call_index,
            }
        )
        if not self.script:
            last = messages[-1].get("content") if messages else None
            raise ScriptExhausted(
                f"ScriptedModel: call {len(self.calls)} (role {role!r}) is beyond the script;"
                f" the last message said: {str(last)[:200]!r}"
            )
        item = self.script.pop(0)
        if isinstance(item, str):
            message = {"role": "assistant", "content": item}
            if on_text is not None:  # as a streaming provider would
                on_text(item)
        else:
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"call_{call_index}_{n}",
                        "type": "function",
                        "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])},
                    }
                    for n, c in enumerate(item)
                ],
            }
        return ModelReply(
            message=message,
            model="scripted/model",
            role=role,
            input_tokens=10,
            output_tokens=5,
            cost_usd=self.cost_per_call,
            latency_ms=1.0,
            attempts=[],
        )

    def estimate_call_cost(self, role, messages) -> float:
        return self.cost_per_call

    def close(self) -> None:
        """Nothing to stop."""
