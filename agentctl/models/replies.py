"""A model's reply as the engine keeps it: one OpenAI-format assistant message, from
litellm's reply object or from the deltas of a stream. No litellm import: these read what it
returns by attribute or key."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any


def normalise_message(msg: Any, call_index: int) -> dict:
    """An OpenAI-format assistant message (a dict) from litellm's message object or a dict;
    tool calls keep a stable id (`call_<index>_<n>`) when the provider gave none."""
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
