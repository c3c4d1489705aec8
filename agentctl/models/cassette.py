"""Model-call cassettes: the JSON Lines file behind `--record FILE` and `--replay FILE`.

Owns the file format and the "did the run ask the same thing?" comparison; agentctl.models.calls
owns the clients that use it. Format: a header line `{"agentctl_cassette": 1, "note": ...}`
then one line per model call:

    {"call_index": N, "role": ..., "model": ..., "request": {"messages": [...], "tools": [...]},
     "response": ModelReply.to_dict()}

Never API keys or headers: requests hold only messages and tool specs. This module has no
dependency on litellm, so replay never pays for importing it.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from agentctl.errors import UsageError
from agentctl.models.messages import Message, ToolSchema

CASSETTE_VERSION = 1
_NOTE = (
    "agentctl model-call recording: one JSON line per model call, replay with "
    "--replay FILE. Holds prompts and replies, never API keys."
)


class CassetteWriter:
    """Appends one line per exchange; appending (not truncating) lets a resumed job's calls
    land in the same file after the ones recorded before the interruption."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()

    def write(
        self,
        call_index: int,
        role: str,
        model: str,
        messages: list[Message],
        tools: list[ToolSchema],
        response: dict[str, Any],
    ) -> None:
        entry = {
            "call_index": call_index,
            "role": role,
            "model": model,
            "request": {"messages": messages, "tools": tools or []},
            "response": response,
        }
        line = json.dumps(entry, ensure_ascii=False, default=str)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                if f.tell() == 0:
                    f.write(
                        json.dumps({"agentctl_cassette": CASSETTE_VERSION, "note": _NOTE}) + "\n"
                    )
                f.write(line + "\n")
                f.flush()
                # A crash right after a model call must not lose the answer we paid for.
                os.fsync(f.fileno())


def load_cassette(path: Path) -> dict[int, dict[str, Any]]:
    """call_index -> entry. A later line for the same index wins (a call re-asked after a
    crash is the one the job continued with). A torn last line (crash mid-write) is ignored."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UsageError(
            f"replay file not found: {path}",
            "record one first with `agentctl run ... --record FILE`",
        ) from None
    except OSError as e:
        raise UsageError(f"cannot read replay file {path}: {e}") from None
    entries: dict[int, dict[str, Any]] = {}
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            if no == len(lines):
                break
            raise UsageError(
                f"{path}:{no}: not a JSON line", "is this an agentctl cassette?"
            ) from None
        if not isinstance(obj, dict):
            raise UsageError(f"{path}:{no}: not a cassette entry", "is this an agentctl cassette?")
        if "agentctl_cassette" in obj:
            if obj["agentctl_cassette"] != CASSETTE_VERSION:
                raise UsageError(
                    f"{path}: cassette version {obj['agentctl_cassette']} is not "
                    f"supported (this agentctl reads version {CASSETTE_VERSION})"
                )
            continue
        if not isinstance(obj.get("call_index"), int) or "response" not in obj:
            raise UsageError(f"{path}:{no}: not a cassette entry (needs call_index and response)")
        entries[obj["call_index"]] = obj
    return entries


def _canon(value: Any) -> Any:
    # Round-trip through JSON so tuples/lists, key order and non-JSON values compare the way
    # they were recorded.
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def tool_names(tools: list[ToolSchema] | None) -> list[str]:
    names = []
    for t in tools or []:
        fn = t.get("function") if isinstance(t, dict) else None
        names.append(str((fn or {}).get("name") or (t.get("name") if isinstance(t, dict) else t)))
    return sorted(names)


def _snip(a: Any, b: Any, width: int = 40) -> tuple[str, str]:
    """Both values as short JSON, windowed around their first differing character."""
    sa, sb = json.dumps(a, ensure_ascii=False), json.dumps(b, ensure_ascii=False)
    i = 0
    while i < min(len(sa), len(sb)) and sa[i] == sb[i]:
        i += 1
    start = max(0, i - width // 2)

    def cut(s: str) -> str:
        piece = s[start : start + width]
        return ("…" if start else "") + piece + ("…" if start + width < len(s) else "")

    return cut(sa), cut(sb)


def describe_difference(
    recorded: dict[str, Any], messages: list[Message], tools: list[ToolSchema] | None
) -> str | None:
    """None when the request matches the recording, else a one-line description of the first
    difference (messages first, then the set of tool names)."""
    old, new = _canon(recorded.get("messages") or []), _canon(messages)
    for i, (a, b) in enumerate(zip(old, new)):
        if a == b:
            continue
        if not (isinstance(a, dict) and isinstance(b, dict)):
            ra, rb = _snip(a, b)
            return f"message {i} differs: recorded {ra}, now {rb}"
        key = next(k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k))
        ra, rb = _snip(a.get(key), b.get(key))
        return f"message {i} ({b.get('role', '?')}) {key} differs: recorded {ra}, now {rb}"
    if len(old) != len(new):
        return f"recorded {len(old)} messages, now {len(new)}"
    old_tools, new_tools = tool_names(recorded.get("tools")), tool_names(tools)
    if old_tools != new_tools:
        return f"tools differ: recorded {old_tools}, now {new_tools}"
    return None
