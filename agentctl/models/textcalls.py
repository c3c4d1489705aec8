"""Tool calls a model wrote as text, made real; and a conversation told in text for models
whose chat template knows no tools.

Small instruction models often pick the right tool and arguments but write the call into the
reply instead of the API's `tool_calls`: a `<tool_call>` block (Qwen, Hermes, SmolLM), a
fenced ```json block, or bare JSON. A role with `tool_calls: text` (the default for `local/`
models) has such a call turned into a real one when it names a tool the step offered; the rest
of the text stays the message. Anything else - JSON naming no offered tool, a block that does
not parse - stays text, so a model quoting JSON is never taken for one calling a tool.

A role with `tool_results: user` has what was said in the `tool` role (and the assistant's
calls) sent as plain text instead, for templates that drop those messages. Only what is sent
changes: the job's log and recordings keep the OpenAI form.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator, Sequence
from typing import Any

TOOL_CALLS_MODES = ("native", "text")
TOOL_RESULTS_MODES = ("tool", "user")

_TAGGED = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)
_FENCED = re.compile(r"```[ \t]*(?:json|JSON|tool_call)?[ \t]*\n(.*?)\n?[ \t]*```", re.DOTALL)
_NAME_KEYS = ("name", "tool", "tool_name", "function")
_ARG_KEYS = ("arguments", "parameters", "args", "input")


def _as_call(obj: Any, offered: Collection[str]) -> dict[str, Any] | None:
    """{"name", "arguments"} (arguments as a JSON string) when `obj` names an offered tool."""
    if not isinstance(obj, dict):
        return None
    inner = obj.get("function")
    if isinstance(inner, dict) and "name" in inner:  # the OpenAI shape, written out whole
        obj = inner
    name = next((obj[k] for k in _NAME_KEYS if isinstance(obj.get(k), str)), None)
    if name not in offered:
        return None
    args: Any = next((obj[k] for k in _ARG_KEYS if k in obj), {})
    if isinstance(args, str):
        try:
            args = json.loads(args or "{}")
        except ValueError:
            return None
    if not isinstance(args, dict):
        return None
    return {"name": name, "arguments": json.dumps(args)}


def _as_calls(text: str, offered: Collection[str]) -> list[dict[str, Any]] | None:
    """The calls a JSON text holds (one object, or a list of them), or None unless every one
    names an offered tool."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    items = value if isinstance(value, list) else [value]
    calls = [_as_call(item, offered) for item in items]
    if not calls or any(c is None for c in calls):
        return None
    return [c for c in calls if c is not None]


def _bare_objects(text: str) -> Iterator[tuple[int, int, Any]]:
    """(start, end, value) of each JSON object or list written straight into the text."""
    decoder = json.JSONDecoder()
    i = 0
    while True:
        starts = [p for p in (text.find("{", i), text.find("[", i)) if p >= 0]
        if not starts:
            return
        start = min(starts)
        try:
            value, end = decoder.raw_decode(text, start)
        except ValueError:
            i = start + 1
            continue
        yield start, end, value
        i = end


def find_text_calls(text: str, offered: Collection[str]) -> tuple[list[dict[str, Any]], str] | None:
    """The calls written in `text` and the text left around them; None when there are none.
    Tagged blocks are looked for first, then fenced ones, then bare JSON."""
    if not text or not offered:
        return None
    for pattern in (_TAGGED, _FENCED):
        spans: list[tuple[int, int]] = []
        calls: list[dict[str, Any]] = []
        for m in pattern.finditer(text):
            written = _as_calls(m.group(1), offered)
            if written:
                spans.append(m.span())
                calls.extend(written)
        if calls:
            return calls, _cut(text, spans)
    spans, calls = [], []
    for start, end, value in _bare_objects(text):
        items = value if isinstance(value, list) else [value]
        bare = [_as_call(item, offered) for item in items]
        if items and all(bare):
            spans.append((start, end))
            calls.extend(c for c in bare if c is not None)
    return (calls, _cut(text, spans)) if calls else None


def _cut(text: str, spans: Sequence[tuple[int, int]]) -> str:
    parts, last = [], 0
    for start, end in spans:
        parts.append(text[last:start])
        last = end
    parts.append(text[last:])
    return re.sub(r"\n{3,}", "\n\n", "".join(parts)).strip()


def recover_tool_calls(
    message: dict[str, Any], offered: Collection[str], call_index: int
) -> dict[str, Any]:
    """`message` (an assistant message as normalise_message makes it) with the calls its text
    holds made real; unchanged when it has real calls already, or its text holds none."""
    if message.get("tool_calls") or not isinstance(message.get("content"), str):
        return message
    found = find_text_calls(message["content"], offered)
    if found is None:
        return message
    calls, rest = found
    return {
        "role": "assistant",
        "content": rest or None,
        "tool_calls": [
            {"id": f"call_{call_index}_{n}", "type": "function", "function": call}
            for n, call in enumerate(calls)
        ],
    }


def offered_names(tools: Sequence[dict[str, Any]]) -> set[str]:
    return {
        str(t.get("function", {}).get("name"))
        for t in tools
        if isinstance(t, dict) and isinstance(t.get("function"), dict)
    }


def _written_call(call: dict[str, Any]) -> str:
    fn = call.get("function") or {}
    try:
        args = json.loads(fn.get("arguments") or "{}")
    except ValueError:
        args = fn.get("arguments")
    return (
        "<tool_call>\n" + json.dumps({"name": fn.get("name"), "arguments": args}) + "\n</tool_call>"
    )


def tools_as_text(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation with tool calls and results written as text: an assistant's calls as
    `<tool_call>` blocks in its content, a tool's result as a user message naming the tool."""
    names: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role == "assistant" and message.get("tool_calls"):
            written = []
            for call in message["tool_calls"]:
                names[str(call.get("id"))] = str((call.get("function") or {}).get("name"))
                written.append(_written_call(call))
            text = "\n".join([message["content"], *written] if message.get("content") else written)
            out.append({"role": "assistant", "content": text})
        elif role == "tool":
            name = names.get(str(message.get("tool_call_id")), "the tool")
            content = message.get("content")
            if not isinstance(content, str):
                content = json.dumps(content)
            out.append({"role": "user", "content": f"Result of {name}:\n{content}"})
        else:
            out.append(message)
    return out


def tools_prompt(tools: Sequence[dict[str, Any]]) -> str:
    """The offered tools and how to call them, for a model whose chat template leaves the
    API's `tools` out of the prompt."""
    listed = "\n".join(json.dumps(t.get("function", t)) for t in tools)
    return (
        "You can call these tools:\n"
        f"{listed}\n"
        "To call one, reply with only:\n"
        '<tool_call>\n{"name": "TOOL", "arguments": {...}}\n</tool_call>\n'
        "Each result comes back as a message starting 'Result of TOOL'. "
        "When you have the answer, reply with it as plain text."
    )


def with_tools_prompt(
    messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """`messages` with tools_prompt() added to the system message (or as one, first)."""
    if not tools:
        return list(messages)
    prompt = tools_prompt(tools)
    out = list(messages)
    if out and out[0].get("role") == "system" and isinstance(out[0].get("content"), str):
        out[0] = {**out[0], "content": f"{out[0]['content']}\n\n{prompt}"}
    else:
        out.insert(0, {"role": "system", "content": prompt})
    return out
