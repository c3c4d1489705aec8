"""What a person reads when a run ends: the final output, the failure, or the approvals it
waits for.

A parked action is summarised (tool, path or command, size, its first lines), never printed
whole: an 8 KB file write must not become one line of a CI log. The whole action is in
`agentctl status JOB --json` (and at the prompt of `run`/`watch` on a terminal).
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, TextIO

from agentctl.visible import make_visible

if TYPE_CHECKING:
    from agentctl.ui.words import Failure

FINAL_OUTPUT_LINES = 40
SUMMARY_LINES = 3  # first lines shown of a long argument
SHORT_VALUE = 100  # an argument this long, on one line, is shown whole
# The argument that names what an action is about, shown on its first line.
TARGET_KEYS = ("command", "path", "url")


def show_outcome(
    outcome: Any,
    final_output: tuple[str, str] | None = None,
    stream: TextIO | None = None,
    failure: Failure | None = None,
) -> None:
    """The end of a run for a person; `final_output` is (step, text) of the last step;
    `failure` (see `words.failure_of`) is what made a failed job fail."""
    from agentctl.ui.words import failure_hint, failure_lines

    job = outcome.job_id
    out = stream or sys.stdout
    if outcome.state == "succeeded":
        if final_output is not None:
            step, text = final_output
            lines = text.rstrip("\n").splitlines()
            print(f"output of step {step}:", file=out)
            for line in lines[:FINAL_OUTPUT_LINES]:
                print(f"  {make_visible(line)}", file=out)
            if len(lines) > FINAL_OUTPUT_LINES:
                print(
                    f"  ... {len(lines) - FINAL_OUTPUT_LINES} more lines: agentctl log {job}",
                    file=out,
                )
        print(f"job {job} succeeded", file=out)
    elif outcome.state == "failed":
        error = outcome.error or {}
        print(f"job {job} failed: {make_visible(error.get('message', ''))}", file=out)
        for line in failure_lines(failure):
            print(f"  {make_visible(line)}", file=out)
        print(f"hint: {failure_hint(job, error.get('type'))}", file=sys.stderr)
    elif outcome.state == "awaiting_approval":
        for line in parked_lines(job, outcome.pending):
            print(line, file=out)
    elif outcome.state == "cancelled":
        print(f"job {job} cancelled", file=out)
    elif outcome.state == "interrupted":
        print(f"job {job} interrupted; continue it with `agentctl resume {job}`", file=out)


def parked_lines(job: str, pending: list[dict[str, Any]]) -> list[str]:
    """Each pending request summarised with the commands that decide it; with more than one,
    the command that decides them all."""
    count = f" ({len(pending)} requests)" if len(pending) > 1 else ""
    lines = [f"job {job} is waiting for approval{count}:"]
    for request in pending:
        lines.append(f"  {request['request']}: {make_visible(str(request['reason']))}")
        if request.get("tool"):
            lines += ["    " + line for line in summarize_action(request["tool"], request["args"])]
        lines.append(f"    approve: agentctl approve {job} {request['request']}")
        lines.append(f"    deny:    agentctl deny {job} {request['request']}")
    if len(pending) > 1:
        lines.append(f"  approve them all: agentctl approve {job} --all")
        lines.append(f"  deny them all:    agentctl deny {job} --all")
    if any(_is_cut(r.get("args") or {}) for r in pending if r.get("tool")):
        lines.append(f"  the whole actions: agentctl status {job} --json")
    lines.append(f"  then: agentctl resume {job}")
    return lines


def summarize_action(tool: str, args: dict[str, Any]) -> list[str]:
    """A few lines that say what an action is: `write_file NOTES.md`, then each other argument
    whole when short, else its size and first lines."""
    target = next((k for k in TARGET_KEYS if _is_short(args.get(k))), None)
    head = tool + (f" {make_visible(str(args[target]))}" if target else "")
    lines = [head]
    for key, value in args.items():
        if key == target:
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        if _is_short(text):
            lines.append(f"  {key}: {make_visible(text)}")
            continue
        body = text.splitlines() or [""]
        count = f"{len(body)} line" + ("s" if len(body) != 1 else "")
        lines.append(f"  {key}: {_size(len(text.encode('utf-8')))}, {count}:")
        lines += [f"    | {_cut(line)}" for line in body[:SUMMARY_LINES]]
        if len(body) > SUMMARY_LINES:
            lines.append(f"    | … {len(body) - SUMMARY_LINES} more lines")
    return lines


def _is_short(value: Any) -> bool:
    return isinstance(value, str) and "\n" not in value and len(value) <= SHORT_VALUE


def _cut(line: str) -> str:
    shown = make_visible(line)
    return shown if len(shown) <= SHORT_VALUE else shown[: SHORT_VALUE - 1] + "…"


def _is_cut(args: dict[str, Any]) -> bool:
    return any(
        not _is_short(v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
        for v in args.values()
    )


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KB"
    return f"{count / (1024 * 1024):.1f} MB"
