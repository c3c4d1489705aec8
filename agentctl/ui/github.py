"""GitHub Actions: workflow commands around the plain lines, and the job summary in Markdown.

`WorkflowCommands` folds a run's events into `::group::`/`::endgroup::` (one group per step)
and one `::error::` for a failure (the job's, naming the step). `render_summary(job, events)` is a pure function from a
described job (`describe_job`) and its events to the Markdown that the CLI appends to
`$GITHUB_STEP_SUMMARY`: steps, actions, approvals, usage and cost, and what to type to
approve a parked job. Data is escaped for both formats: a tool cannot inject a workflow
command, and Markdown/HTML in a command or a reason is shown, not rendered.
"""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING, Any

from agentctl.events import (
    END_EVENTS,
    ApprovalState,
    EventType,
    JobState,
)
from agentctl.ui.event_lines import check_attempt, describe_event
from agentctl.ui.plain import output_tail
from agentctl.ui.words import (
    failure_hint,
    failure_of,
    files_changed_words,
    plural,
    result_words,
    rules_words,
)
from agentctl.units import format_usd
from agentctl.visible import flatten_line, one_line

if TYPE_CHECKING:
    from agentctl.store.base import Event

ANSWER_LINES = 80  # of the agent's final answer in the summary; all of it is in status --json
DIFF_CHARS = 100_000  # of the diff in the summary (GitHub keeps 1 MiB of a step's summary)
# Events that become a `::warning::` annotation, in their formatter's words.
_WARNING_EVENTS = (EventType.WARNING, EventType.APPROVAL_EXPIRED, EventType.APPROVAL_VOIDED)


def escape_data(text: str) -> str:
    """A workflow command's message: `%`, CR and LF are what the runner decodes."""
    return flatten_line(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_multiline(text: str) -> str:
    """A workflow command's message over several lines: each made visible, joined by an
    encoded newline (which the runner shows as a line break, never as a new command)."""
    return "%0A".join(escape_data(line) for line in text.split("\n"))


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


class WorkflowCommands:
    """The workflow commands that go before and after each event's plain line."""

    def __init__(self, job_id: str):
        self.job_id = job_id
        self.group: str | None = None
        self.failed_output: list[str] = []  # the last failed run's or check's output tail
        self.failed_step: tuple[str | None, str] | None = None  # (step, error) not yet said

    def around(self, event: Event) -> tuple[list[str], list[str]]:
        before: list[str] = []
        after: list[str] = []
        data = event.data or {}
        if event.type == EventType.STEP_STARTED:
            before += self._close()
            self.group = event.step
            title = f"step {event.step} ({data.get('kind', '')})"
            before.append(f"::group::{escape_data(title)}")
        elif event.type == EventType.ACTION_FINISHED:
            tail = output_tail(event.type, data)
            if tail:
                self.failed_output = [line.strip() for line in tail]
        elif event.type == EventType.STEP_FINISHED:
            after += self._close()
            if data.get("state") == JobState.FAILED:
                # Said once, by the job's failure that follows (it names the step).
                self.failed_step = (event.step, data.get("error") or "failed")
        elif event.type in END_EVENTS:
            before += self._close()
            if event.type == EventType.JOB_FAILED:
                error = data.get("error") or {}
                where = f" in step {self.failed_step[0]}" if self.failed_step else ""
                title = escape_property(f"agentctl job {self.job_id} failed{where}")
                # The output's last lines go in the annotation: it is what a reviewer sees.
                said = error.get("message", "")
                step_said = self.failed_step[1] if self.failed_step else ""
                message = "\n".join(
                    [
                        said,
                        *([step_said] if step_said and step_said not in said else []),
                        *self.failed_output,
                        failure_hint(self.job_id, error.get("type")),
                    ]
                )
                after.append(f"::error title={title}::{escape_multiline(message)}")
            elif self.failed_step is not None:  # a failed step the job did not fail on
                title = escape_property(f"step {self.failed_step[0]} failed")
                after.append(f"::error title={title}::{escape_data(self.failed_step[1])}")
            if event.type == EventType.JOB_PAUSED:
                after.append(
                    f"::notice title=agentctl job {self.job_id} awaits approval::"
                    f"{escape_data(approve_hint(self.job_id, data.get('requests')))}"
                )
            self.failed_step = None
        elif event.type in _WARNING_EVENTS:
            text = describe_event(event.type, event.step, data) or event.type
            after.append(f"::warning title=agentctl job {self.job_id}::{escape_data(text)}")
        return before, after

    def _close(self) -> list[str]:
        if self.group is None:
            return []
        self.group = None
        return ["::endgroup::"]


def approve_hint(job_id: str, requests: list[str] | None) -> str:
    requests = requests or []
    named = requests[0] if len(requests) == 1 else "--all" if requests else "REQUEST"
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


def md_prose(text: Any) -> str:
    """Our own sentences as Markdown: what is between backticks (a command to type) becomes a
    code span, the rest is text; nothing is rendered. Unpaired backticks: all text."""
    parts = flatten_line(str(text)).split("`")
    if len(parts) % 2 == 0:
        return md_text(text)
    return "".join(md_code(part) if i % 2 else md_text(part) for i, part in enumerate(parts))


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
        + (f" — failed: {md_prose(job['error'].get('message', ''))}" if job.get("error") else ""),
        "",
    ]
    if job.get("error"):
        out += _failure_section(job, events)
    out += _answer_section(job)
    out += _changes_section(job_id, events)
    out += _steps_section(job)
    out += _actions_section(events)
    out += _approvals_section(events)
    usage = job["usage"]
    out += [
        "### Usage",
        "",
        (
            f"{plural(usage['model_calls'], 'model call')},"
            f" {plural(usage['tool_calls'], 'tool call')},"
            f" {usage['input_tokens']} input + {usage['output_tokens']} output tokens,"
            f" cost {format_usd(usage['cost_usd'])}"
        ),
        "",
    ]
    if state == JobState.AWAITING_APPROVAL:
        out += _how_to_approve(job)
    elif state == JobState.INTERRUPTED:
        out += ["### Continue it", "", "```sh", f"agentctl resume {job_id}", "```", ""]
    return "\n".join(out) + "\n"


def _failure_section(job: dict[str, Any], events: list[Any]) -> list[str]:
    """What failed, the last lines of its output, and what to type next (rollback)."""
    failure = failure_of(events)
    lines = ["### What failed", ""]
    if failure is not None and failure.tool is not None:
        who = "The check" if failure.is_check else md_code(failure.tool)
        what = f" {md_code(one_line(failure.what or '', 200))}" if failure.what else ""
        lines.append(
            f"{who}{what} in step {md_text(failure.step or '')} {md_text(failure.result or '')}."
        )
        if failure.tail:
            lines += ["", *_fenced("\n".join(flatten_line(line) for line in failure.tail))]
        lines.append("")
    lines += [md_prose(failure_hint(job["id"], (job.get("error") or {}).get("type"))), ""]
    return lines


def _fenced(body: str, info: str = "text") -> list[str]:
    """A fenced block whose fence outgrows any run of backticks in `body`."""
    fence = "```"
    while fence in body:
        fence += "`"
    return [f"{fence}{info}", body, fence]


def _answer_section(job: dict[str, Any]) -> list[str]:
    """The agent's final answer (the last agent step's output, else the last step's), as a
    block of text: shown as written, never rendered (a model's Markdown could load images)."""
    if job["state"] != JobState.SUCCEEDED:  # a job that stopped has no final answer yet
        return []
    said = [s for s in job["steps"] if (s.get("output") or "").strip()]
    step = ([s for s in said if s.get("kind") == "agent"] or said or [None])[-1]
    if step is None:
        return []
    lines = step["output"].rstrip("\n").split("\n")
    body = "\n".join(flatten_line(line) for line in lines[:ANSWER_LINES])
    out = [f"### Answer (step {md_text(step['id'])})", "", *_fenced(body)]
    if len(lines) > ANSWER_LINES:
        more = len(lines) - ANSWER_LINES
        whole = md_code(f"agentctl status {job['id']} --json")
        out.append(f"{more} more lines: {whole}")
    return out + [""]


def _changes_section(job_id: str, events: list[Any]) -> list[str]:
    """The files the job changed, and their diff folded away in a `<details>`."""
    from agentctl.changes.history import collect_changes, render_diff
    from agentctl.changes.stats import diff_stats

    changes = [c for c in collect_changes(events) if c.rolled_back_by is None]
    stats = diff_stats(changes)
    if not stats:
        return []
    diff = render_diff(changes, color=False)
    if len(diff) > DIFF_CHARS:  # a step summary holds 1 MiB; the whole diff is one command away
        diff = diff[: diff.rfind("\n", 0, DIFF_CHARS) + 1] + "... (cut here)\n"
    body = "\n".join(flatten_line(line) for line in diff.rstrip("\n").split("\n"))
    title = html.escape(flatten_line(files_changed_words(stats)), quote=False)
    return [
        "### Changes",
        "",
        "<details>",
        f"<summary>{title}</summary>",
        "",
        *_fenced(body, "diff"),
        "",
        "</details>",
        "",
        f"The whole diff: {md_code(f'agentctl diff {job_id}')}; undo it:"
        f" {md_code(f'agentctl rollback {job_id}')}",
        "",
    ]


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
    from agentctl.tools.builtin import action_subject  # the tools load only to show actions

    started: dict[str, tuple[Any, dict[str, Any] | None]] = {}
    for event in events:
        key = (event.data or {}).get("key")
        if event.type == EventType.ACTION_STARTED and key:
            started[key] = (event, None)
        elif event.type == EventType.ACTION_FINISHED and key in started:
            started[key] = (started[key][0], event.data)
    if not started:
        return []
    lines = ["### Actions", "", "| step | tool | action | result |", "| --- | --- | --- | --- |"]
    for event, finished in started.values():
        data = event.data
        args = data.get("args") or {}
        what = action_subject(data.get("tool", ""), args)
        decision = f" ({md_text(data['decision'])})" if data.get("decision") else ""
        check = check_attempt(data.get("key"))
        tool = f"check {check}" if check else data.get("tool", "")
        lines.append(
            f"| {md_text(event.step or '')} | {md_text(tool)} |"
            f" {md_code(one_line(str(what), 120))}{decision} | {_result(finished)} |"
        )
    return lines + [""]


def _result(finished: dict[str, Any] | None) -> str:
    if finished is None:
        return "no result recorded"
    if finished.get("ok"):
        return f"ok ({finished.get('duration_ms', 0)} ms)"
    return md_text(result_words(finished.get("error"), finished.get("exit_code")))


def _approvals_section(events: list[Any]) -> list[str]:
    rows: dict[str, dict[str, Any]] = {}
    for event in events:
        data = event.data or {}
        if event.type == EventType.APPROVAL_REQUESTED:
            rows[data["request"]] = {
                "step": event.step,
                "reason": data.get("reason", ""),
                "state": ApprovalState.PENDING,
                "by": "",
            }
        elif event.type == EventType.APPROVAL_DECIDED and data.get("request") in rows:
            rows[data["request"]].update(state=data.get("decision"), by=data.get("by") or "")
        elif event.type == EventType.APPROVAL_USED and data.get("request") in rows:
            rows[data["request"]]["state"] += ", used"
        elif event.type == EventType.APPROVAL_EXPIRED and data.get("request") in rows:
            # Approved too long ago: the action was refused, so it must not read "approved".
            rows[data["request"]]["state"] = ApprovalState.EXPIRED
        elif event.type == EventType.APPROVAL_VOIDED and data.get("request") in rows:
            rows[data["request"]]["state"] = ApprovalState.VOID  # an added policy denies it
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
    from agentctl.tools.builtin import action_command  # the tools load only to show actions

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
            what = action_command(request["tool"], args) or json.dumps(args, ensure_ascii=False)
            lines.append(
                f"  - action: {md_text(request['tool'])} {md_code(one_line(str(what), 300))}"
            )
        if request.get("rules"):
            lines.append(f"  - asked by: {md_text(rules_words(request['rules'], decided='ask'))}")
    lines += ["", "```sh"]
    if len(job["pending_approvals"]) > 1:  # one model turn's requests, decided together
        lines.append(f"agentctl approve {job_id} --all --comment 'why'")
    else:
        for request in job["pending_approvals"]:
            lines.append(f"agentctl approve {job_id} {request['request']} --comment 'why'")
    lines += [
        f"agentctl resume {job_id}",
        "```",
        "",
        f"Deny instead with `agentctl deny {job_id} REQUEST` (or `--all`).",
        "",
    ]
    return lines
