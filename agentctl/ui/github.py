"""GitHub Actions: workflow commands around the plain lines, and the job summary in Markdown.

`WorkflowCommands` folds a run's events into `::group::`/`::endgroup::` (one group per step)
and `::error::` for a failure. `render_summary(job, events)` is a pure function from a
described job (`describe_job`) and its events to the Markdown that the CLI appends to
`$GITHUB_STEP_SUMMARY`: steps, actions, approvals, usage and cost, and what to type to
approve a parked job. Data is escaped for both formats: a tool cannot inject a workflow
command, and Markdown/HTML in a command or a reason is shown, not rendered.
"""

from __future__ import annotations

import json
from typing import Any

from agentctl.ui.plain import flatten_line, one_line

_END_EVENTS = ("job_succeeded", "job_failed", "job_cancelled", "job_interrupted", "job_paused")


def escape_data(text: str) -> str:
    """A workflow command's message: `%`, CR and LF are what the runner decodes."""
    return flatten_line(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


class WorkflowCommands:
    """The workflow commands that go before and after each event's plain line."""

    def __init__(self, job_id: str):
        self.job_id = job_id
        self.group: str | None = None

    def around(self, event: Any) -> tuple[list[str], list[str]]:
        before: list[str] = []
        after: list[str] = []
        data = event.data or {}
        if event.type == "step_started":
            before += self._close()
            self.group = event.step
            title = f"step {event.step} ({data.get('kind', '')})"
            before.append(f"::group::{escape_data(title)}")
        elif event.type == "step_finished":
            after += self._close()
            if data.get("state") == "failed":
                title = escape_property(f"step {event.step} failed")
                after.append(f"::error title={title}::{escape_data(data.get('error') or 'failed')}")
        elif event.type in _END_EVENTS:
            before += self._close()
            if event.type == "job_failed":
                error = data.get("error") or {}
                title = escape_property(f"agentctl job {self.job_id} failed")
                message = f"({error.get('type')}) {error.get('message', '')}"
                after.append(f"::error title={title}::{escape_data(message)}")
            elif event.type == "job_paused":
                after.append(
                    f"::notice title=agentctl job {self.job_id} awaits approval::"
                    f"{escape_data(approve_hint(self.job_id, data.get('requests')))}"
                )
        return before, after

    def _close(self) -> list[str]:
        if self.group is None:
            return []
        self.group = None
        return ["::endgroup::"]


def approve_hint(job_id: str, requests: list[str] | None) -> str:
    named = " ".join(requests or []) if len(requests or []) == 1 else "REQUEST"
    return (
        f"approve with `agentctl approve {job_id} {named}`, then continue with"
        f" `agentctl resume {job_id}`"
    )


# -- the summary -------------------------------------------------------------------------


def md_text(text: Any) -> str:
    """Data as Markdown text: one line, nothing rendered (HTML, links, emphasis, tables)."""
    flat = flatten_line(str(text))
    flat = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for char in "\\`*_[]|#~!":
        flat = flat.replace(char, "\\" + char)
    return flat


def md_code(text: Any) -> str:
    """Data as an inline code span (pipes escaped so a table cell stays one cell)."""
    flat = flatten_line(str(text)).replace("|", "\\|")
    fence = "`"
    while fence in flat:
        fence += "`"
    return (
        f"{fence} {flat} {fence}"
        if flat.startswith("`") or flat.endswith("`")
        else f"{fence}{flat}{fence}"
    )


_STATE_ICONS = {
    "succeeded": "✅",
    "failed": "❌",
    "cancelled": "⛔",
    "interrupted": "⏸️",
    "awaiting_approval": "⏳",
    "running": "▶️",
    "pending": "·",
}


def render_summary(job: dict[str, Any], events: list[Any]) -> str:
    """The job's Markdown summary for `$GITHUB_STEP_SUMMARY`."""
    job_id, state = job["id"], job["state"]
    out = [
        f"## agentctl: {md_text(job['recipe'])} {_STATE_ICONS.get(state, '')} {state}",
        "",
        f"Job `{job_id}`"
        + (
            f" — error ({md_text(job['error'].get('type'))}):"
            f" {md_text(job['error'].get('message', ''))}"
            if job.get("error")
            else ""
        ),
        "",
    ]
    out += _steps_section(job)
    out += _actions_section(events)
    out += _approvals_section(events)
    usage = job["usage"]
    out += [
        "### Usage",
        "",
        (
            f"{usage['model_calls']} model call(s), {usage['tool_calls']} tool call(s),"
            f" {usage['input_tokens']} input + {usage['output_tokens']} output tokens,"
            f" cost ${usage['cost_usd']:.4f}"
        ),
        "",
    ]
    if state == "awaiting_approval":
        out += _how_to_approve(job)
    elif state == "interrupted":
        out += ["### Continue it", "", "```sh", f"agentctl resume {job_id}", "```", ""]
    return "\n".join(out) + "\n"


def _steps_section(job: dict[str, Any]) -> list[str]:
    if not job["steps"]:
        return []
    lines = ["### Steps", "", "| step | kind | state |", "| --- | --- | --- |"]
    for step in job["steps"]:
        icon = _STATE_ICONS.get(step["state"], "")
        lines.append(
            f"| {md_text(step['id'])} | {md_text(step.get('kind', ''))} |"
            f" {icon} {md_text(step['state'])} |"
        )
    return lines + [""]


def _actions_section(events: list[Any]) -> list[str]:
    started: dict[str, tuple[Any, dict[str, Any] | None]] = {}
    for event in events:
        key = (event.data or {}).get("key")
        if event.type == "action_started" and key:
            started[key] = (event, None)
        elif event.type == "action_finished" and key in started:
            started[key] = (started[key][0], event.data)
    if not started:
        return []
    lines = ["### Actions", "", "| step | tool | action | result |", "| --- | --- | --- | --- |"]
    for event, finished in started.values():
        data = event.data
        args = data.get("args") or {}
        what = (
            args.get("command")
            if data.get("tool") == "shell"
            else (args.get("path") or args.get("url") or json.dumps(args, ensure_ascii=False))
        )
        decision = f" ({md_text(data['decision'])})" if data.get("decision") else ""
        lines.append(
            f"| {md_text(event.step or '')} | {md_text(data.get('tool', ''))} |"
            f" {md_code(one_line(str(what), 120))}{decision} | {_result(finished)} |"
        )
    return lines + [""]


def _result(finished: dict[str, Any] | None) -> str:
    if finished is None:
        return "no result recorded"
    if finished.get("ok"):
        return f"ok ({finished.get('duration_ms', 0)} ms)"
    code = finished.get("exit_code")
    return md_text(finished.get("error") or (f"exit {code}" if code is not None else "failed"))


def _approvals_section(events: list[Any]) -> list[str]:
    rows: dict[str, dict[str, Any]] = {}
    for event in events:
        data = event.data or {}
        if event.type == "approval_requested":
            rows[data["request"]] = {
                "step": event.step,
                "reason": data.get("reason", ""),
                "state": "pending",
                "by": "",
            }
        elif event.type == "approval_decided" and data.get("request") in rows:
            rows[data["request"]].update(state=data.get("decision"), by=data.get("by") or "")
        elif event.type == "approval_used" and data.get("request") in rows:
            rows[data["request"]]["state"] += ", used"
    if not rows:
        return []
    lines = [
        "### Approvals",
        "",
        "| request | step | reason | decision | by |",
        "| --- | --- | --- | --- | --- |",
    ]
    for request, row in rows.items():
        lines.append(
            f"| {md_text(request)} | {md_text(row['step'] or '')} |"
            f" {md_text(one_line(row['reason'], 200))} | {md_text(row['state'])} |"
            f" {md_text(row['by'])} |"
        )
    return lines + [""]


def _how_to_approve(job: dict[str, Any]) -> list[str]:
    job_id = job["id"]
    lines = [
        "### ⏳ Waiting for approval",
        "",
        (
            "The job is parked; nothing more runs until a person decides. With this run's"
            " job database (e.g. the workflow's artifact) in `AGENTCTL_DB` or `--db`:"
        ),
        "",
    ]
    for request in job["pending_approvals"]:
        lines.append(
            f"- **{md_text(request['request'])}** (step {md_text(request['step'])}):"
            f" {md_text(one_line(request['reason'], 300))}"
        )
        if request.get("tool"):
            args = request.get("args") or {}
            what = (
                args.get("command")
                if request["tool"] == "shell"
                else json.dumps(args, ensure_ascii=False)
            )
            lines.append(f"  - action: {md_text(request['tool'])} {md_code(one_line(what, 300))}")
        if request.get("rules"):
            lines.append(f"  - asked by rule(s): {md_text(', '.join(request['rules']))}")
    lines += ["", "```sh"]
    for request in job["pending_approvals"]:
        lines.append(f"agentctl approve {job_id} {request['request']} --comment 'why'")
    lines += [
        f"agentctl resume {job_id}",
        "```",
        "",
        f"Deny instead with `agentctl deny {job_id} REQUEST`.",
        "",
    ]
    return lines
