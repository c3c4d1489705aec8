"""The user's words for the log's codes, and what to show where a failure is reported.

The log keeps stable codes (`nonzero_exit`, `step_failed`, `policy:default (allow)`) for
scripts; people read these words instead, in the plain lines, `status`, `log`, the live view
and the GitHub summary. `failure_of(events)` finds the action that made a job fail and the
last lines of its output, so a failure is shown where it is reported, not only in `log --json`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentctl.policy.votes import rule_label, rule_object
from agentctl.visible import make_visible

if TYPE_CHECKING:
    from agentctl.changes.stats import FileStat

FAILURE_TAIL_LINES = 15
CHANGED_FILES_SHOWN = 6  # the end of a run names this many changed files, then counts the rest

_RESULT_WORDS = {
    "timeout": "timed out",
    "cancelled": "stopped by a cancel",
    "denied": "not run: denied",
    "bad_arguments": "refused: bad arguments",
    "unknown_tool": "refused: no such tool",
}

_ERROR_KINDS = {
    "step_failed": "a step failed",
    "limit": "a limit was reached",
    "model": "the model could not answer",
}


def plural(count: int, word: str, words: str | None = None) -> str:
    """`1 tool call`, `2 tool calls`."""
    return f"{count} {word if count == 1 else (words or word + 's')}"


def result_words(error: str | None, exit_code: int | None, ok: bool = False) -> str:
    """How an action ended: `ok`, `failed with exit 2`, `timed out`, ..."""
    if ok:
        return "ok"
    if error in (None, "nonzero_exit") and exit_code not in (None, 0):
        return f"failed with exit {exit_code}"
    if error == "http_status":
        return f"failed with HTTP status {exit_code}" if exit_code else "failed: HTTP error"
    return _RESULT_WORDS.get(error or "", "failed" if not error else f"failed: {error}")


def error_kind_words(kind: str | None) -> str:
    return _ERROR_KINDS.get(kind or "", "failed")


def rule_words(rule: Any, *, with_decision: bool = True) -> str:
    """A voting rule as a person reads it: `ci-safe:no-destruction (deny)` stays (those are
    the policy's own names); the built-in default policy and a policy's default say so.
    Takes a rule object or the short string that older logs hold."""
    label = rule_label(rule)
    name, _, decision = label.partition(" (")
    decision = f" ({decision}" if decision and with_decision else ""
    policy, _, rule_id = name.partition(":")
    if policy == "default" and rule_id == "default":
        return f"no policy given{decision}"
    if rule_id == "default":
        return f"{policy}'s default{decision}"
    if policy == "builtin":
        return f"built-in rule {rule_id}{decision}"
    return f"{name}{decision}"


def deciding_rules(rules: list[Any] | None, decision: str | None) -> list[Any]:
    """The votes that made `decision` (a denial's deny votes, not the allows beside them);
    every vote when none says it (an older log's short strings without a decision)."""
    rules = list(rules or [])
    if decision is None:
        return rules
    deciding = [r for r in rules if rule_object(r).get("decision") == decision]
    return deciding or rules


def rules_words(
    rules: list[Any] | None, *, reasons: bool = False, decided: str | None = None
) -> str:
    """Rules joined for one line; with `reasons`, each followed by its reason (the approval
    prompt and status name why each rule voted). With `decided` (the decision, said just
    before), only the votes that made it, without repeating it: `deny by ci-safe:no-rm`;
    every vote stays in `--json` and `policy explain`."""
    shown = deciding_rules(rules, decided) if decided else list(rules or [])
    out = []
    for rule in shown:
        reason = rule.get("reason") if reasons and isinstance(rule, dict) else None
        words = rule_words(rule, with_decision=decided is None)
        out.append(words + (f": {reason}" if reason else ""))
    return ("; " if reasons else ", ").join(out)


@dataclass
class Failure:
    """What made a job fail: the step, the action (if one failed) and its output's tail."""

    step: str | None
    message: str
    tool: str | None = None
    what: str | None = None  # the command, path or URL
    result: str | None = None
    tail: list[str] = field(default_factory=list)
    is_check: bool = False


# The only events `failure_of` looks at: a caller may read just these.
FAILURE_EVENT_TYPES = ("step_finished", "action_started", "action_finished")


def failure_of(events: list[Any]) -> Failure | None:
    """The failing step's last failed action and its last output lines (None if the job did
    not fail in a step, e.g. a limit between steps)."""
    failed_step = None
    for event in events:
        if event.type == "step_finished" and (event.data or {}).get("state") == "failed":
            failed_step = event
    if failed_step is None:
        return None
    step = failed_step.step
    message = (failed_step.data or {}).get("error") or "failed"
    started: dict[str, Any] = {}
    last = None
    for event in events:
        data = event.data or {}
        if event.step != step:
            continue
        if event.type == "action_started":
            started[data.get("key", "")] = data
        elif event.type == "action_finished" and not data.get("ok") and not data.get("refused"):
            last = data
    failure = Failure(step=step, message=message)
    if last is None:
        return failure
    args = (started.get(last.get("key", "")) or {}).get("args") or last.get("args") or {}
    failure.tool = last.get("tool")
    failure.what = args.get("command") or args.get("path") or args.get("url")
    failure.result = result_words(last.get("error"), last.get("exit_code"))
    failure.is_check = "/check" in (last.get("key") or "")
    output = (last.get("output") or "").rstrip("\n")
    failure.tail = output.split("\n")[-FAILURE_TAIL_LINES:] if output else []
    return failure


def failure_lines(failure: Failure | None) -> list[str]:
    """What failed and the last lines of its output, for a person (no codes)."""
    if failure is None or failure.tool is None:
        return []
    who = "the check" if failure.is_check else failure.tool
    what = f" `{failure.what}`" if failure.what else ""
    lines = [f"{who}{what} {failure.result}" + (", its last output:" if failure.tail else "")]
    return lines + [f"  │ {line}" for line in failure.tail]


def failure_hint(job_id: str, kind: str | None) -> str:
    """What to type next after a failure of this kind."""
    if kind == "limit":
        return (
            f"raise the limit and continue: `agentctl resume {job_id} --limit NAME=VALUE`"
            " (the error names the limit)"
        )
    if kind == "model":
        return (
            f"fix the cause (key, server, model name), then `agentctl resume {job_id}`:"
            " it continues from its log"
        )
    return (
        f"see every event with `agentctl log {job_id}`; undo the job's file changes with"
        f" `agentctl rollback {job_id}`"
    )


def _file_stat_words(stat: FileStat) -> str:
    path = make_visible(stat.path)  # a file name is data: never a terminal code
    counts = (
        f"+{stat.added} −{stat.removed}"
        if stat.added is not None and stat.removed is not None
        else stat.note
    )
    if stat.kind == "created":
        return f"{path} (new, {counts})"
    if stat.kind == "deleted":
        return f"{path} (deleted)"
    if stat.kind == "renamed":
        return f"{make_visible(stat.from_path or '')} → {path} ({counts})"
    if stat.kind == "mode":
        return f"{path} (mode changed)"
    return f"{path} ({counts})"


def files_changed_words(stats: list[FileStat]) -> str:
    """`files changed: calc.py (+3 −1), NOTES.md (new, +2 −0)`, the first few files named."""
    named = [_file_stat_words(stat) for stat in stats[:CHANGED_FILES_SHOWN]]
    if len(stats) > CHANGED_FILES_SHOWN:
        named.append(f"and {len(stats) - CHANGED_FILES_SHOWN} more")
    return f"files changed: {', '.join(named)}"


def files_changed_line(stats: list[FileStat], job_id: str) -> str | None:
    """`files changed: calc.py (+3 −1) — agentctl diff JOB`: the last line of a run that left
    changes behind (None when it left none). `stats` are `changes.stats.FileStat`s."""
    if not stats:
        return None
    return f"{files_changed_words(stats)} — agentctl diff {job_id}"
