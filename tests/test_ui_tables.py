"""`jobs` and `status` tables at 60, 80 and 120 columns: ids are never cut (people copy
them); the other columns wrap or go first (issue 24)."""

from __future__ import annotations

import pytest
from rich.console import Console

from agentctl.ui.tables import render_jobs, render_status

NOW = 1_790_000_000.0
JOBS = [
    {
        "id": "113af2b9c4",
        "state": "awaiting_approval",
        "recipe": "fix-failing-test",
        "steps": [{"id": "fix", "kind": "agent", "state": "awaiting_approval"}],
        "created_at": "2026-09-21T13:00:00Z",
        "usage": {"cost_usd": 0.0123},
    },
    {
        "id": "0d5e77a1f2",
        "state": "succeeded",
        "recipe": "triage-issues-and-label-them-nightly",
        "steps": [{"id": "a", "kind": "run", "state": "succeeded"}] * 2,
        "created_at": "2026-09-21T12:00:00Z",
        "usage": {"cost_usd": 1.5},
    },
]


def shown(width: int, render, *args) -> str:
    console = Console(width=width, force_terminal=True, color_system=None, record=True)
    render(*args, console=console)
    return console.export_text()


@pytest.mark.parametrize("width", [60, 80, 120])
def test_jobs_never_cuts_an_id_and_keeps_the_recipe(width):
    text = shown(width, lambda jobs, console: render_jobs(jobs, console, now=NOW), JOBS)
    lines = text.splitlines()
    assert all(len(line) <= width for line in lines), text
    assert "…" not in text, text
    for job in JOBS:
        assert any(line.startswith(job["id"] + " ") for line in lines), text
        assert any(job["state"] in line for line in lines), text
    # The recipe's column is there, and a long name wraps in it: all of it is shown.
    start = lines[0].index("RECIPE")
    end = start + len(lines[0][start:].split("  ")[0]) + 2
    end += len(lines[0][end:]) - len(lines[0][end:].lstrip())
    column = "".join(line[start:end].strip() for line in lines[1:])
    assert column == "fix-failing-test" + "triage-issues-and-label-them-nightly", text
    if width == 120:
        assert all(name in lines[0] for name in ("CREATED", "AGE", "COST", "STEPS"))
    if width == 60:
        assert "CREATED" not in lines[0]  # the first to go: AGE says it shorter


@pytest.mark.parametrize("width", [60, 80])
def test_status_keeps_step_ids_whole(width):
    job = {
        **JOBS[0],
        "workspace": "/tmp/ws",
        "updated_at": "2026-09-21T13:00:05Z",
        "usage": {
            "model_calls": 1,
            "tool_calls": 2,
            "input_tokens": 3,
            "output_tokens": 4,
            "cost_usd": 0.5,
        },
        "steps": [
            {"id": "collect-the-failing-tests-and-their-output", "kind": "run", "state": "ok"}
        ],
        "pending_approvals": [],
    }
    text = shown(width, lambda job, console: render_status(job, console), job)
    assert "collect-the-failing-tests-and-their-output" in text, text
