"""A model's reply as the engine keeps it (ModelReply: one OpenAI-format assistant message,
from litellm's reply object or from the deltas of a stream, with its usage and cost), and the
error a call that failed for good raises. No litellm import: these read what it returns by
attribute or key."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from agentctl.errors import AgentctlError
from agentctl.models.messages import Attempt, Message
from agentctl.models.roles import DEFAULT_ROLE


@dataclass
class ModelReply:
    message: Message  # {"role": "assistant", "content": str|None, "tool_calls": [...]?}
    model: str  # the litellm model string that answered
    role: str  # the role asked
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    attempts: list[Attempt] = field(
        default_factory=list
    )  # failed tries: {"model", "error", "reason"}
    answered_by: str = ""  # the role whose model answered (a fallback's, or `role`)
    endpoint: str = ""  # the host it answered from (router.endpoint_host)

    def to_dict(self) -> dict[str, Any]:
        # By hand: dataclasses.asdict deep-copies every value, a quarter of a step's budget.
        return {
            "message": self.message,
            "model": self.model,
            "role": self.role,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd,
            "latency_ms": self.latency_ms,
            "attempts": list(self.attempts),
            "answered_by": self.answered_by,
            "endpoint": self.endpoint,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelReply:
        return cls(
            message=copy.deepcopy(dict(d["message"])),
            model=str(d.get("model", "")),
            role=str(d.get("role", DEFAULT_ROLE)),
            input_tokens=int(d.get("input_tokens") or 0),
            output_tokens=int(d.get("output_tokens") or 0),
            cost_usd=float(d.get("cost_usd") or 0.0),
            latency_ms=float(d.get("latency_ms") or 0.0),
            attempts=copy.deepcopy(list(d.get("attempts") or [])),
            answered_by=str(d.get("answered_by") or ""),
            endpoint=str(d.get("endpoint") or ""),
        )


class ModelError(AgentctlError):
    """A model call failed for good (exit 1). `attempts` lists every failed try."""

    def __init__(self, message: str, hint: str = "", attempts: list[Attempt] | None = None):
        super().__init__(message, hint)
        self.attempts = attempts or []


def normalise_message(
    msg: Any, call_index: int, text_tools: Collection[str] | None = None
) -> Message:
    """An OpenAI-format assistant message (a dict) from litellm's message object or a dict;
    tool calls keep a stable id (`call_<index>_<n>`) when the provider gave none. With
    `text_tools` (the offered tools' names, for a role with `tool_calls: text`), calls written
    in the text become real ones (agentctl.models.textcalls)."""
    get = msg.get if isinstance(msg, Mapping) else (lambda k, d=None: getattr(msg, k, d))
    calls = []
    for i, tc in enumerate(get("tool_calls") or []):
        tget = tc.get if isinstance(tc, Mapping) else (lambda k, d=None, tc=tc: getattr(tc, k, d))
        fn = tget("function") or {}
        fget = fn.get if isinstance(fn, Mapping) else (lambda k, d=None, fn=fn: getattr(fn, k, d))
        args = fget("arguments")
        if not isinstance(args, str):
            args = json.dumps(args if args is not None else {})
        # Some local servers omit ids; the id must be stable so replays and tool results match.
        calls.append(
            {
                "id": tget("id") or f"call_{call_index}_{i}",
                "type": "function",
                "function": {"name": fget("name") or "", "arguments": args or "{}"},
            }
        )
    content = get("content")
    message: dict[str, Any] = {
        "role": "assistant",
        "content": (content or None) if calls else (content or ""),
    }
    if calls:
        message["tool_calls"] = calls
    elif text_tools:
        from agentctl.models.textcalls import recover_tool_calls

        return recover_tool_calls(message, text_tools, call_index)
    return message


def assemble_stream(
    stream: Any, on_text: Callable[[str], None]
) -> tuple[dict[str, Any] | None, Any]:
    """The assistant message and usage from a stream, passing text on as it arrives. Built
    here from the deltas: litellm's stream_chunk_builder re-parses every chunk (~25% of what a
    streamed call costs)."""
    seen = False
    texts: list[str] = []
    calls: dict[int, dict[str, str]] = {}
    usage = None
    for chunk in stream:
        usage = getattr(chunk, "usage", None) or usage
        choices = getattr(chunk, "choices", None) or []
        if not choices:
            continue
        seen = True
        delta = getattr(choices[0], "delta", None)
        text = getattr(delta, "content", None)
        if text:
            texts.append(text)
            on_text(text)
        for tc in getattr(delta, "tool_calls", None) or []:
            index = getattr(tc, "index", None)
            slot = calls.setdefault(
                index if isinstance(index, int) else len(calls),
                {"id": "", "name": "", "arguments": ""},
            )
            slot["id"] = getattr(tc, "id", None) or slot["id"]
            function = getattr(tc, "function", None)
            name = getattr(function, "name", None)
            if name and not slot["name"]:
                slot["name"] = name
            slot["arguments"] += getattr(function, "arguments", None) or ""
    if not seen:
        return None, usage
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts)}
    if calls:
        message["tool_calls"] = [
            {
                "id": slot["id"] or None,
                "type": "function",
                "function": {"name": slot["name"], "arguments": slot["arguments"]},
            }
            for _, slot in sorted(calls.items())
        ]
    return message, usage
