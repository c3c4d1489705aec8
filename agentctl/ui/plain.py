"""The plain renderer: one line per event, with its time, for logs, pipes and CI.

Tool output and model text are data, never terminal codes: control characters are shown as
escapes so an `ESC]0;` from a tool cannot retitle or repaint the user's terminal, and a
newline in data cannot forge a second line. This module writes no ANSI codes at all.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from typing import Any, TextIO

from agentctl.times import human_time
from agentctl.ui.words import FAILURE_TAIL_LINES, plural, result_words, rules_words

# C0/C1 controls (tab and newline excepted), bidi overrides and marks, invisible separators
# and zero-width characters: anything that could hide or reorder what a person reads.
_CONTROL = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e"
    r"\u2060-\u2069\ufeff]"
)
_LINE_BREAKS = re.compile(r"[\n\t]")


def make_visible(text: str) -> str:
    """Show control, ANSI and bidi characters as escapes instead of obeying them."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def one_line(text: str, width: int = 100) -> str:
    flat = make_visible(" ".join(str(text).split()))
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _clock(ts: float) -> str:
    return human_time(ts)


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
    if type_ == "policy_added":
        return f"policy {data.get('path') or '(added)'} added by {data.get('by')}"
    if type_ == "policy_applied":
        return f"policy {data.get('path')} now applies to every next action"
    if type_ == "approval_voided":
        return (
            f"{where}approval {data.get('request')} ({data.get('tool')}) voided:"
            " an added policy denies it"
        )
    if type_ == "step_finished":
        extra = f": {one_line(data['error'])}" if data.get("error") else ""
        return f"{where}step {data.get('state')}{extra}"
    if type_ == "model_response":
        reply = data.get("reply", {})
        message = reply.get("message", {})
        calls = message.get("tool_calls") or []
        what = (
            plural(len(calls), "tool call")
            if calls
            else one_line(message.get("content") or "", 80) or "(no text)"
        )
        tried = reply.get("attempts") or []
        fallback = (
            (
                f"; after {len(tried)} failed tr{'y' if len(tried) == 1 else 'ies'},"
                f" last: {one_line(tried[-1].get('model', ''), 40)}"
                f" {one_line(tried[-1].get('reason', ''), 60)}"
            )
            if tried
            else ""
        )
        return (
            f"{where}model {reply.get('model')} answered: {what}"
            f" ({reply.get('input_tokens', 0)}+{reply.get('output_tokens', 0)} tokens,"
            f" ${reply.get('cost_usd', 0):.4f}{fallback})"
        )
    if type_ == "action_started":
        what = _summarise_args(data.get("tool", ""), data.get("args", {}))
        decided = ""
        rules_said = [r for r in data.get("rules") or [] if not r.startswith("default:")]
        if rules_said or data.get("decision") not in (None, "allow"):
            rules = rules_words(data.get("rules"))
            decided = f" ({data['decision']}{' by ' + rules if rules else ''})"
        again = f" (repeat {data['repeat']})" if data.get("repeat") else ""
        check = check_attempt(data.get("key"))
        if check:  # the recipe's check, not something the agent chose to run
            return f"{where}check {check}: {what}{decided}{again}"
        return f"{where}→ {data.get('tool')}: {what}{decided}{again}"
    if type_ == "action_finished":
        if data.get("refused") and data.get("denied_by"):  # a person's no, in their words
            from agentctl.engine.approvals import person_denial

            said = person_denial({"decided_by": data["denied_by"], "comment": data.get("comment")})
            return f"{where}✗ {data.get('tool')} not run: {said}"
        if data.get("refused"):
            rules = rules_words(data.get("rules"))
            why = result_words(data.get("error"), None) if data.get("error") else "not run"
            return f"{where}✗ {data.get('tool')} {why}" + (f" by {rules}" if rules else "")
        status = result_words(data.get("error"), data.get("exit_code"), bool(data.get("ok")))
        check = check_attempt(data.get("key"))
        name = f"check {check}" if check else data.get("tool")
        return f"{where}← {name} {status} ({data.get('duration_ms', 0)} ms)"
    if type_ == "approval_requested":
        return f"{where}approval {data.get('request')} needed: {one_line(data.get('reason', ''))}"
    if type_ == "approval_decided":
        return f"{where}approval {data.get('request')} {data.get('decision')} by {data.get('by')}"
    if type_ == "approval_used":
        return f"{where}approval {data.get('request')} used"
    if type_ == "job_paused":
        return "job paused: awaiting approval"
    if type_ == "cancel_requested":
        return f"cancel requested by {data.get('by')}"
    if type_ == "rollback_started":
        return "rollback started"
    if type_ == "rollback":
        conflicts = data.get("conflicts") or []
        text = (
            f"rolled back: {len(data.get('restored') or [])} restored,"
            f" {len(data.get('removed') or [])} removed"
        )
        return text + (f", {len(conflicts)} conflict(s) left alone" if conflicts else "")
    if type_ == "warning":
        return f"warning: {one_line(data.get('message', ''), 200)}"
    if type_ == "job_succeeded":
        return "job succeeded"
    if type_ == "job_failed":
        error = data.get("error", {})
        return f"job failed: {one_line(error.get('message', ''), 200)}"
    if type_ == "job_cancelled":
        return "job cancelled"
    if type_ == "job_interrupted":
        return f"job interrupted: {one_line(data.get('reason', ''))}"
    return None


def check_attempt(key: str | None) -> str:
    """`fix/check2` -> `2`: the key of a recipe check's run; '' for anything else."""
    _, sep, attempt = (key or "").rpartition("/check")
    return attempt if sep and attempt.isdigit() else ""


def output_tail(type_: str, data: dict[str, Any], lines: int = FAILURE_TAIL_LINES) -> list[str]:
    """The last lines of a failed run step's or check's output, shown under its line: that
    is what made the step fail. (An agent's own failed commands are the model's business.)"""
    if type_ != "action_finished" or data.get("ok") or data.get("refused"):
        return []
    key = data.get("key") or ""
    if not (key.endswith("/run") or check_attempt(key)):
        return []
    output = (data.get("output") or "").rstrip("\n")
    if not output:
        return []
    return ["    │ " + flatten_line(line) for line in output.split("\n")[-lines:]]


def flatten_line(text: str) -> str:
    """One visible line: controls escaped, and newlines and tabs too."""
    return _LINE_BREAKS.sub(lambda m: "\\n" if m.group() == "\n" else "\\t", make_visible(text))


def format_event_line(
    seq: int, ts: float, type_: str, step: str | None, data: dict[str, Any]
) -> str | None:
    text = describe_event(type_, step, data)
    if text is None:
        return None
    # Names, paths and hosts come from outside too: the whole line is made visible.
    return f"{_clock(ts)} {flatten_line(text)}"


class EventPrinter:
    """Prints a job's events as plain lines (prefixed with the job id) to a stream.

    `around(event)` may add lines before and after an event's own line (GitHub workflow
    commands); they are printed as given.
    """

    def __init__(
        self,
        job_id: str,
        stream: TextIO | None = None,
        around: Callable[[Any], tuple[list[str], list[str]]] | None = None,
    ):
        self.job_id = job_id
        self.stream = stream
        self.around = around
        self.closed = False

    def on_event(self, event: Any) -> None:
        if self.closed:
            return
        out = self.stream or sys.stderr
        before, after = self.around(event) if self.around else ([], [])
        line = format_event_line(event.seq, event.ts, event.type, event.step, event.data)
        tail = output_tail(event.type, event.data) if line else []
        try:
            for text in [*before, *([f"{self.job_id} {line}"] if line else []), *tail, *after]:
                print(text, file=out)
            out.flush()
        except (BrokenPipeError, ValueError):  # ValueError: the stream was closed here
            self.closed = True
            silence(out)


def silence(stream: TextIO) -> None:
    """Point a stream whose reader went away (`agentctl run ... | head`) at /dev/null, so
    neither a later print nor the flush at exit fails: output nobody reads is not an error."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
