"""Tables for `agentctl jobs` and `agentctl status` (rich; text is never read as markup)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from agentctl.ui.plain import make_visible

_STATE_STYLE = {
    "running": "cyan",
    "awaiting_approval": "yellow",
    "succeeded": "green",
    "failed": "red",
    "cancelled": "magenta",
    "interrupted": "yellow",
}


def _when(iso: str | None) -> str:
    if not iso:
        return ""
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _state(state: str) -> Text:
    return Text(state, style=_STATE_STYLE.get(state, ""))


def render_jobs(jobs: list[dict[str, Any]], console: Console | None = None) -> None:
    console = console or Console()
    if not jobs:
        console.print("no jobs yet; start one with `agentctl run RECIPE`", markup=False)
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("ID", "STATE", "RECIPE", "STEPS", "CREATED", "COST"):
        table.add_column(column, no_wrap=column != "RECIPE")
    for job in jobs:
        steps = job["steps"]
        done = sum(1 for s in steps if s["state"] == "succeeded")
        table.add_row(
            job["id"],
            _state(job["state"]),
            Text(make_visible(job["recipe"])),
            f"{done}/{len(steps)}",
            _when(job["created_at"]),
            f"${job['usage']['cost_usd']:.4f}",
        )
    console.print(table)


def render_status(job: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    head = Text.assemble(("job ", "bold"), (job["id"], "bold"), "  ", _state(job["state"]))
    console.print(head)
    console.print(Text(f"recipe     {make_visible(job['recipe'])}"))
    console.print(Text(f"workspace  {make_visible(job['workspace'])}"))
    console.print(
        Text(f"created    {_when(job['created_at'])}   updated {_when(job['updated_at'])}")
    )
    usage = job["usage"]
    console.print(
        Text(
            f"usage      {usage['model_calls']} model calls, {usage['tool_calls']}"
            f" tool calls, {usage['input_tokens']}+{usage['output_tokens']} tokens,"
            f" ${usage['cost_usd']:.4f}"
        )
    )
    if job.get("runner"):
        console.print(Text(f"runner     pid {job['runner']['pid']} on {job['runner']['host']}"))
    if job.get("error"):
        console.print(
            Text(
                f"error      ({job['error']['type']}) {make_visible(job['error']['message'])}",
                style="red",
            )
        )
    table = Table(box=None, header_style="bold", pad_edge=False, title_justify="left")
    table.add_column("STEP")
    table.add_column("KIND")
    table.add_column("STATE")
    for step in job["steps"]:
        table.add_row(Text(step["id"]), step["kind"], _state(step["state"]))
    console.print()
    console.print(table)
    if job["pending_approvals"]:
        console.print()
        console.print(Text("pending approvals", style="bold yellow"))
        for request in job["pending_approvals"]:
            console.print(
                Text(
                    f"  {request['request']} [{request['step']}] {make_visible(request['reason'])}"
                )
            )
            if request.get("tool"):
                args = make_visible(json.dumps(request["args"], ensure_ascii=False))
                console.print(Text(f"    {request['tool']} {args}"))
            console.print(Text(f"    agentctl approve {job['id']} {request['request']}"))
    if job["state"] in ("interrupted", "awaiting_approval"):
        console.print()
        console.print(Text(f"continue it with `agentctl resume {job['id']}`"))
