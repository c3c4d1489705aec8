"""The plain renderer: one line per event, for logs, pipes and CI.

Tool output and model text are data, never terminal codes: control characters are shown as
escapes so an `ESC]0;` from a tool cannot retitle or repaint the user's terminal.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def make_visible(text: str) -> str:
    """Show control, ANSI and bidi characters as escapes instead of obeying them."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def one_line(text: str, width: int = 100) -> str:
    flat = make_visible(" ".join(str(text).split()))
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _clock(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%H:%M:%S")


def _summarise_args(tool: str, args: dict[str, Any]) -> str:
    if tool == "shell" and "command" in args:
        return one_line(args["command"])
    if "path" in args:
        return one_line(args["path"])
    if "url" in args:
        return one_line(args["url"])
    return one_line(json.dumps(args, ensure_ascii=False))


def describe_event(type_: str, step: str | None, data: dict[str, Any]) -> str | None:
    """A short human sentence for an event, or None for events not worth a line."""
    where = f"[{step}] " if step else ""
    if type_ == "job_created":
        return f"job created from recipe {data.get('recipe')} in {data.get('workspace')}"
    if type_ == "runner_started":
        verb = "resumed" if data.get("resumed") else "started"
        return f"runner {verb} (pid {data.get('pid')} on {data.get('host')})"
    if type_ == "step_started":
        return f"{where}step started ({data.get('kind')})"
    if type_ == "step_finished":
        extra = f": {one_line(data['error'])}" if data.get("error") else ""
        return f"{where}step {data.get('state')}{extra}"
    if type_ == "model_response":
        reply = data.get("reply", {})
        message = reply.get("message", {})
        calls = message.get("tool_calls") or []
        what = (f"{len(calls)} tool call(s)" if calls
                else one_line(message.get("content") or "", 80) or "(no text)")
        return (f"{where}model {reply.get('model')} answered: {what}"
                f" ({reply.get('input_tokens', 0)}+{reply.get('output_tokens', 0)} tokens,"
                f" ${reply.get('cost_usd', 0):.4f})")
    if type_ == "action_started":
        return f"{where}→ {data.get('tool')}: {_summarise_args(data.get('tool', ''), data.get('args', {}))}"
    if type_ == "action_finished":
        status = "ok" if data.get("ok") else (data.get("error") or "failed")
        code = f", exit {data['exit_code']}" if data.get("exit_code") not in (None, 0) else ""
        return f"{where}← {data.get('tool')} {status}{code} ({data.get('duration_ms', 0)} ms)"
    if type_ == "approval_requested":
        return f"{where}approval {data.get('request')} needed: {one_line(data.get('reason', ''))}"
    if type_ == "approval_decided":
        return (f"{where}approval {data.get('request')} {data.get('decision')}"
                f" by {data.get('by')}")
    if type_ == "approval_used":
        return f"{where}approval {data.get('request')} used"
    if type_ == "job_paused":
        return "job paused: awaiting approval"
    if type_ == "cancel_requested":
        return f"cancel requested by {data.get('by')}"
    if type_ == "warning":
        return f"warning: {one_line(data.get('message', ''), 200)}"
    if type_ == "job_succeeded":
        return "job succeeded"
    if type_ == "job_failed":
        error = data.get("error", {})
        return f"job failed ({error.get('type')}): {one_line(error.get('message', ''), 200)}"
    if type_ == "job_cancelled":
        return "job cancelled"
    if type_ == "job_interrupted":
        return f"job interrupted: {one_line(data.get('reason', ''))}"
    return None


def format_event_line(seq: int, ts: float, type_: str, step: str | None,
                      data: dict[str, Any]) -> str | None:
    text = describe_event(type_, step, data)
    if text is None:
        return None
    return f"{_clock(ts)} {text}"
