"""The words for a job's events: one formatter per event type, and `describe_event`.

Every renderer (the plain lines of `agentctl log` and of runs in a pipe, the live view, the
GitHub Actions log and summary) describes an event through `describe_event`, which looks
its formatter up in `FORMATTERS`. A formatter reads the event's data as stored (old logs
too), so it tolerates missing fields. A new event type without a formatter fails
tests/test_events.py, so no renderer can forget it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from agentctl.events import EventType
from agentctl.policy.votes import Verdict, from_default_policy
from agentctl.ui.words import plural, result_words, rules_words
from agentctl.units import format_usd
from agentctl.visible import one_line

# A formatter gets the step prefix ("[step] " or "") and the event's data, and returns one
# short human sentence, or None when this occurrence is not worth a line.
Formatter = Callable[[str, dict[str, Any]], "str | None"]


def _summarise_args(tool: str, args: dict[str, Any]) -> str:
    from agentctl.tools.builtin import action_subject  # the tools load only to show an action

    return one_line(action_subject(tool, args))


def _job_created(where: str, data: dict[str, Any]) -> str:
    return f"job created from recipe {data.get('recipe')} in {data.get('workspace')}"


def _runner_started(where: str, data: dict[str, Any]) -> str:
    verb = "resumed" if data.get("resumed") else "started"
    return f"runner {verb} (pid {data.get('pid')} on {data.get('host')})"


def _step_started(where: str, data: dict[str, Any]) -> str:
    return f"{where}step started ({data.get('kind')})"


def _policy_added(where: str, data: dict[str, Any]) -> str:
    return f"policy {data.get('path') or '(added)'} added by {data.get('by')}"


def _policy_applied(where: str, data: dict[str, Any]) -> str:
    return f"policy {data.get('path')} now applies to every next action"


def _mcp_server_started(where: str, data: dict[str, Any]) -> str:
    confinement = data.get("confinement")
    how = f", {'no sandbox' if confinement == 'none' else confinement}" if confinement else ""
    return (
        f"MCP server {data.get('server')} started ({data.get('transport')}{how}):"
        f" {one_line(data.get('target', ''), 120)}"
    )


def _mcp_tools_pinned(where: str, data: dict[str, Any]) -> str:
    tools = data.get("tools") or {}
    by = f" (approved in {data['approval']})" if data.get("approval") else ""
    return f"{where}MCP server {data.get('server')}: {plural(len(tools), 'tool')} pinned{by}"


def _approval_voided(where: str, data: dict[str, Any]) -> str:
    if data.get("why"):  # asked ahead with its model turn, then decided by the policy
        return f"{where}approval {data.get('request')} voided: {data['why']}"
    return (
        f"{where}approval {data.get('request')} ({data.get('tool')}) voided:"
        " an added policy denies it"
    )


def _step_finished(where: str, data: dict[str, Any]) -> str:
    error = one_line(data.get("error") or "")
    # The error names its step for the job's message; the line's `[step] ` names it already.
    step = where[1:-2] if where else ""
    if step and error.startswith(f"step {step}: "):
        error = error[len(f"step {step}: ") :]
    extra = f": {error}" if error else ""
    return f"{where}step {data.get('state')}{extra}"


def _model_response(where: str, data: dict[str, Any]) -> str:
    reply = data.get("reply", {})
    message = reply.get("message", {})
    calls = message.get("tool_calls") or []
    what = (
        plural(len(calls), "tool call")
        if calls
        else one_line(message.get("content") or "", 80) or "(no text)"
    )
    attempts = reply.get("attempts") or []
    # A model passed over while it cools down was not tried: said apart from failed tries.
    tried = [a for a in attempts if a.get("reason") != "cooling down"]
    skipped = [one_line(a.get("model", ""), 40) for a in attempts if a not in tried]
    fallback = (
        (
            f"; after {len(tried)} failed tr{'y' if len(tried) == 1 else 'ies'},"
            f" last: {one_line(tried[-1].get('model', ''), 40)}"
            f" {one_line(tried[-1].get('reason', ''), 60)}"
        )
        if tried
        else ""
    )
    if skipped:
        fallback += f"; {', '.join(skipped)} cooling down"
    return (
        f"{where}model {reply.get('model')}{_answered_by(reply)} answered: {what}"
        f" ({reply.get('input_tokens', 0)}+{reply.get('output_tokens', 0)} tokens,"
        f" {format_usd(reply.get('cost_usd') or 0)}{fallback})"
    )


def _answered_by(reply: dict[str, Any]) -> str:
    """' at HOST (role R)': where the reply came from, when the log says (issue 22)."""
    host = one_line(str(reply.get("endpoint") or ""), 60)
    role = one_line(str(reply.get("answered_by") or ""), 40)
    asked = reply.get("role")
    out = f" at {host}" if host else ""
    if role and role != asked:
        out += f" (role {role}, for {one_line(str(asked), 40)})"
    elif role:
        out += f" (role {role})"
    return out


def _action_started(where: str, data: dict[str, Any]) -> str:
    what = _summarise_args(data.get("tool", ""), data.get("args", {}))
    decided = ""
    rules_said = [r for r in data.get("rules") or [] if not from_default_policy(r)]
    if rules_said or data.get("decision") not in (None, Verdict.ALLOW):
        rules = rules_words(data.get("rules"), decided=data.get("decision"))
        decided = f" ({data['decision']}{' by ' + rules if rules else ''})"
    again = f" (repeat {data['repeat']})" if data.get("repeat") else ""
    check = check_attempt(data.get("key"))
    if check:  # the recipe's check, not something the agent chose to run
        return f"{where}check {check}: {what}{decided}{again}"
    return f"{where}→ {data.get('tool')}: {what}{decided}{again}"


def _action_finished(where: str, data: dict[str, Any]) -> str:
    if data.get("refused") and data.get("denied_by"):  # a person's no, in their words
        from agentctl.engine.approvals import person_denial

        said = person_denial({"decided_by": data["denied_by"], "comment": data.get("comment")})
        return f"{where}✗ {data.get('tool')} not run: {said}"
    if data.get("refused"):
        rules = rules_words(data.get("rules"), decided=data.get("decision"))
        why = result_words(data.get("error"), None) if data.get("error") else "not run"
        return f"{where}✗ {data.get('tool')} {why}" + (f" by {rules}" if rules else "")
    status = result_words(data.get("error"), data.get("exit_code"), bool(data.get("ok")))
    if data.get("stopped_by"):  # Ctrl-C or `agentctl cancel`: a person's word, not a failure
        status = f"stopped by {data['stopped_by']}"
    check = check_attempt(data.get("key"))
    name = f"check {check}" if check else data.get("tool")
    return f"{where}← {name} {status} ({data.get('duration_ms', 0)} ms)"


def _approval_requested(where: str, data: dict[str, Any]) -> str:
    return f"{where}approval {data.get('request')} needed: {one_line(data.get('reason', ''))}"


def _approval_decided(where: str, data: dict[str, Any]) -> str:
    return f"{where}approval {data.get('request')} {data.get('decision')} by {data.get('by')}"


def _approval_used(where: str, data: dict[str, Any]) -> str:
    return f"{where}approval {data.get('request')} used"


def _approval_expired(where: str, data: dict[str, Any]) -> str:
    return f"{where}approval {data.get('request')} expired: counted as a deny"


def _job_paused(where: str, data: dict[str, Any]) -> str:
    return "job paused: awaiting approval"


def _cancel_requested(where: str, data: dict[str, Any]) -> str:
    return f"cancel requested by {data.get('by')}"


def _rollback_started(where: str, data: dict[str, Any]) -> str:
    return "rollback started"


def _rollback(where: str, data: dict[str, Any]) -> str:
    conflicts = data.get("conflicts") or []
    text = (
        f"rolled back: {len(data.get('restored') or [])} restored,"
        f" {len(data.get('removed') or [])} removed"
    )
    return text + (f", {plural(len(conflicts), 'conflict')} left alone" if conflicts else "")


def _warning(where: str, data: dict[str, Any]) -> str:
    return f"warning: {one_line(data.get('message', ''), 200)}"


def _limits_changed(where: str, data: dict[str, Any]) -> str:
    limits = data.get("limits") or {}
    said = ", ".join(f"{k}={v}" for k, v in limits.items()) or "none"
    return f"limits changed for the rest of the job: {said}"


def _workspace_cloned(where: str, data: dict[str, Any]) -> str:
    commit = str(data.get("commit") or "")[:12]
    back = data.get("changes_put_back") or 0
    again = f"; {plural(back, 'recorded change')} put back" if back else ""
    return (
        f"workspace: cloned {data.get('url', '')} at {commit} into {data.get('folder', '')}{again}"
    )


def _workspace_pushed(where: str, data: dict[str, Any]) -> str:
    commit = str(data.get("commit") or "")[:12]
    files = data.get("files") or 0
    what = f"{plural(files, 'changed file')} in" if files else "no change:"
    return f"workspace: pushed branch {data.get('branch', '')} ({what} {commit}) to {data.get('url', '')}"


def _job_succeeded(where: str, data: dict[str, Any]) -> str:
    return "job succeeded"


def _job_failed(where: str, data: dict[str, Any]) -> str:
    error = data.get("error", {})
    return f"job failed: {one_line(error.get('message', ''), 200)}"


def _job_cancelled(where: str, data: dict[str, Any]) -> str:
    return "job cancelled"


def _job_interrupted(where: str, data: dict[str, Any]) -> str:
    reason = one_line(data.get("reason") or "")
    # A plain Ctrl-C's reason is the word itself: "job interrupted: interrupted" says it twice.
    return "job interrupted" if reason in ("", "interrupted") else f"job interrupted: {reason}"


FORMATTERS: Mapping[str, Formatter] = {
    EventType.JOB_CREATED: _job_created,
    EventType.RUNNER_STARTED: _runner_started,
    EventType.STEP_STARTED: _step_started,
    EventType.STEP_FINISHED: _step_finished,
    EventType.POLICY_ADDED: _policy_added,
    EventType.POLICY_APPLIED: _policy_applied,
    EventType.LIMITS_CHANGED: _limits_changed,
    EventType.WORKSPACE_CLONED: _workspace_cloned,
    EventType.WORKSPACE_PUSHED: _workspace_pushed,
    EventType.MODEL_RESPONSE: _model_response,
    EventType.ACTION_STARTED: _action_started,
    EventType.ACTION_FINISHED: _action_finished,
    EventType.APPROVAL_REQUESTED: _approval_requested,
    EventType.APPROVAL_DECIDED: _approval_decided,
    EventType.APPROVAL_USED: _approval_used,
    EventType.APPROVAL_EXPIRED: _approval_expired,
    EventType.APPROVAL_VOIDED: _approval_voided,
    EventType.MCP_SERVER_STARTED: _mcp_server_started,
    EventType.MCP_TOOLS_PINNED: _mcp_tools_pinned,
    EventType.JOB_PAUSED: _job_paused,
    EventType.CANCEL_REQUESTED: _cancel_requested,
    EventType.ROLLBACK_STARTED: _rollback_started,
    EventType.ROLLBACK: _rollback,
    EventType.WARNING: _warning,
    EventType.JOB_SUCCEEDED: _job_succeeded,
    EventType.JOB_FAILED: _job_failed,
    EventType.JOB_CANCELLED: _job_cancelled,
    EventType.JOB_INTERRUPTED: _job_interrupted,
}


def check_attempt(key: str | None) -> str:
    """`fix/check2` -> `2`: the key of a recipe check's run; '' for anything else."""
    _, sep, attempt = (key or "").rpartition("/check")
    return attempt if sep and attempt.isdigit() else ""


def describe_event(type_: str, step: str | None, data: dict[str, Any]) -> str | None:
    """A short human sentence for an event, or None for events not worth a line (including
    types this version does not know, e.g. from a newer agentctl's log)."""
    formatter = FORMATTERS.get(type_)
    if formatter is None:
        return None
    return formatter(f"[{step}] " if step else "", data)
