"""Tables for `agentctl jobs` and `agentctl status` (rich; text is never read as markup).

On a terminal they are rich tables; anywhere else (a pipe, a file) every line is written
whole, never wrapped or cut to a width, so `agentctl jobs | grep` sees full names and JSON
shown in `status` stays one line.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from agentctl.policy.votes import rule_labels
from agentctl.times import human_age, human_time, parse_time
from agentctl.ui.words import Failure, failure_hint, failure_lines, plural
from agentctl.units import format_usd
from agentctl.visible import make_visible

_STATE_STYLE = {
    "running": "cyan",
    "awaiting_approval": "yellow",
    "succeeded": "green",
    "failed": "red",
    "cancelled": "magenta",
    "interrupted": "yellow",
}


def _when(iso: str | None) -> str:
    return human_time(iso)


def _age(iso: str | None, now: float) -> str:
    ts = parse_time(iso)
    return "" if ts is None else human_age(now - ts)


class _TableConsole(Console):
    def on_broken_pipe(self) -> None:
        # rich would exit 1 here; the CLI's boundary ends a command whose reader went away
        # quietly, with exit 0 (`agentctl jobs | head -1`).
        self.quiet = True
        raise BrokenPipeError


def make_console(stream: Any = None) -> Console:
    """A console that wraps and cuts only on a terminal; elsewhere lines are kept whole."""
    stream = stream or sys.stdout
    console = _TableConsole(file=stream)
    if console.is_terminal:
        return console
    return _TableConsole(
        file=stream, width=1_000_000, soft_wrap=True, no_color=True, highlight=False
    )


def _print_rows(console: Console, header: tuple[str, ...], rows: list[list[str]]) -> None:
    """Columns aligned by their widest cell, two spaces apart, no trailing blanks."""
    widths = [max(len(row[i]) for row in [list(header), *rows]) for i in range(len(header))]
    for row in [list(header), *rows]:
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
        console.print(Text(line), soft_wrap=True)


def _state(state: str) -> Text:
    return Text(state, style=_STATE_STYLE.get(state, ""))


JOB_COLUMNS = ("ID", "STATE", "RECIPE", "STEPS", "CREATED", "AGE", "COST")


def render_jobs(
    jobs: list[dict[str, Any]],
    console: Console | None = None,
    *,
    empty: str = "no jobs yet; start one with `agentctl run RECIPE`",
    now: float | None = None,
) -> None:
    console = console or make_console()
    if not jobs:
        console.print(empty, markup=False)
        return
    now = time.time() if now is None else now
    rows = []
    for job in jobs:
        steps = job["steps"]
        done = sum(1 for s in steps if s["state"] == "succeeded")
        rows.append(
            [
                job["id"],
                job["state"],
                make_visible(job["recipe"]),
                f"{done}/{len(steps)}",
                _when(job["created_at"]),
                _age(job["created_at"], now),
                format_usd(job["usage"]["cost_usd"]),
            ]
        )
    if not console.is_terminal:
        _print_rows(console, JOB_COLUMNS, rows)
        return
    shown = _fitting_columns(JOB_COLUMNS, rows, console.width)
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in shown:
        width = _column_width(JOB_COLUMNS.index(column), JOB_COLUMNS, rows)
        if column in _WRAPPING:  # takes what is left, and wraps in it
            table.add_column(column, overflow="fold", min_width=_WRAP_MIN)
        else:  # whole, never cut: ids are copied, states and numbers are short
            table.add_column(column, no_wrap=True, min_width=width)
    for row in rows:
        cells: list[Text | str] = [row[0], _state(row[1]), Text(row[2]), *row[3:]]
        table.add_row(*[cells[JOB_COLUMNS.index(column)] for column in shown])
    console.print(table)


# On a narrow terminal these columns go first, in this order (kubectl and gh drop columns
# rather than cut an id); the recipe's name wraps rather than go.
_DROP_ORDER = ("CREATED", "COST", "STEPS", "AGE")
_WRAPPING = ("RECIPE",)
_WRAP_WANTED = 20  # columns go until the recipe has this much room (or its longest name)
_WRAP_MIN = 8


def _column_width(index: int, header: tuple[str, ...], rows: list[list[str]]) -> int:
    return max(len(row[index]) for row in [list(header), *rows])


def _fitting_columns(header: tuple[str, ...], rows: list[list[str]], width: int) -> list[str]:
    """The columns that fit in `width` (two spaces apart), dropping `_DROP_ORDER` first."""
    shown = list(header)

    def needed() -> int:
        widths = [
            min(_column_width(header.index(c), header, rows), _WRAP_WANTED)
            if c in _WRAPPING
            else _column_width(header.index(c), header, rows)
            for c in shown
        ]
        return sum(widths) + 2 * (len(shown) - 1)

    for column in _DROP_ORDER:
        if needed() <= width:
            break
        shown.remove(column)
    return shown


def render_status(
    job: dict[str, Any], console: Console | None = None, failure: Failure | None = None
) -> None:
    """One job for a person; `failure` (see `words.failure_of`) adds what made it fail."""
    console = console or make_console()
    _print_facts(console, job, failure)
    console.print()
    if console.is_terminal:
        table = Table(box=None, header_style="bold", pad_edge=False, title_justify="left")
        table.add_column("STEP")
        table.add_column("KIND")
        table.add_column("STATE")
        for step in job["steps"]:
            table.add_row(Text(make_visible(step["id"])), step["kind"], _state(step["state"]))
        console.print(table)
    else:
        rows = [[make_visible(s["id"]), s["kind"], s["state"]] for s in job["steps"]]
        _print_rows(console, ("STEP", "KIND", "STATE"), rows)
    if job["pending_approvals"]:
        console.print()
        _print_pending(console, job["id"], job["pending_approvals"])
    if job["state"] in ("interrupted", "awaiting_approval"):
        console.print()
        console.print(Text(f"continue it with `agentctl resume {job['id']}`"))


def _print_facts(console: Console, job: dict[str, Any], failure: Failure | None) -> None:
    """The job's head lines: state, recipe, workspace, times, usage, who runs it, its error."""
    head = Text.assemble(("job ", "bold"), (job["id"], "bold"), "  ", _state(job["state"]))
    console.print(head)
    console.print(Text(f"recipe     {make_visible(job['recipe'])}"))
    console.print(Text(f"workspace  {make_visible(job['workspace'])}"))
    if job.get("key") is not None:
        console.print(Text(f"key        {make_visible(job['key'])}"))
    console.print(
        Text(f"created    {_when(job['created_at'])}   updated {_when(job['updated_at'])}")
    )
    usage = job["usage"]
    console.print(
        Text(
            f"usage      {plural(usage['model_calls'], 'model call')},"
            f" {plural(usage['tool_calls'], 'tool call')},"
            f" {usage['input_tokens']}+{usage['output_tokens']} tokens,"
            f" {format_usd(usage['cost_usd'])}"
        )
    )
    if job.get("runner"):
        console.print(Text(f"runner     pid {job['runner']['pid']} on {job['runner']['host']}"))
    if job.get("queue"):
        console.print(Text(f"queue      {make_visible(job['queue'])}"))
    for seen in job.get("workers") or []:
        console.print(Text(f"worker     {seen['worker']}: {make_visible(seen['note'])}"))
    if job.get("interrupted"):
        console.print(Text(f"why        {make_visible(job['interrupted']['message'])}"))
    if job.get("error"):
        console.print(Text(f"error      {make_visible(job['error']['message'])}", style="red"))
        for line in failure_lines(failure):
            console.print(Text(f"           {make_visible(line)}"))
        console.print(Text(f"hint       {failure_hint(job['id'], job['error']['type'])}"))


def _print_pending(console: Console, job_id: str, pending: list[dict[str, Any]]) -> None:
    """The job's pending approvals, each with the command that approves it."""
    console.print(Text("pending approvals", style="bold yellow"))
    for request in pending:
        console.print(
            Text(f"  {request['request']} [{request['step']}] {make_visible(request['reason'])}")
        )
        if request.get("tool"):
            args = make_visible(json.dumps(request["args"], ensure_ascii=False))
            console.print(Text(f"    {request['tool']} {args}"))
        if request.get("rules"):
            said = make_visible(rule_labels(request["rules"], reasons=True))
            console.print(Text(f"    rules: {said}"))
        console.print(Text(f"    agentctl approve {job_id} {request['request']}"))
    if len(pending) > 1:  # one model turn's requests, decided together
        console.print(Text(f"  all of them: agentctl approve {job_id} --all"))
