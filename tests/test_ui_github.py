"""GitHub Actions: groups per step, ::error:: for failures, and the Markdown job summary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import agentctl_env

from agentctl.store import Event
from agentctl.ui.github import WorkflowCommands, escape_data, md_text, render_summary


def run_in_actions(
    tmp_path: Path, recipe: Path, workspace: Path, *extra: str, summary: Path | None = None
) -> subprocess.CompletedProcess:
    summary = summary or tmp_path / "summary.md"
    env = agentctl_env(
        tmp_path / "a.db", GITHUB_ACTIONS="true", CI="true", GITHUB_STEP_SUMMARY=str(summary)
    )
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "agentctl",
            "run",
            str(recipe),
            "--workspace",
            str(workspace),
            *extra,
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def write_recipe(tmp_path: Path, steps: str) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(f"version: 1\nname: ci\nsteps:\n{steps}")
    return path


@pytest.mark.slow
@pytest.mark.e2e
def test_a_parked_run_groups_steps_and_its_summary_says_how_to_approve(tmp_path, workspace):
    recipe = write_recipe(
        tmp_path,
        "  - id: build\n    run: echo built\n"
        "  - id: ship\n    approval: Ship it?\n"
        "  - id: after\n    run: 'true'\n",
    )
    (tmp_path / "summary.md").write_text("earlier content\n")
    done = run_in_actions(tmp_path, recipe, workspace, "--non-interactive", "--json")
    assert done.returncode == 3, done.stderr
    job = json.loads(done.stdout)  # stdout is still just the JSON document
    lines = done.stderr.splitlines()
    assert "::group::step build (run)" in lines and "::group::step ship (approval)" in lines
    assert lines.count("::endgroup::") == 2
    opened = lines.index("::group::step build (run)")
    assert any(
        "[build] step succeeded" in line for line in lines[opened : lines.index("::endgroup::")]
    )
    assert any(
        line.startswith("::notice") and f"agentctl approve {job['id']}" in line for line in lines
    )
    summary = (tmp_path / "summary.md").read_text()
    assert summary.startswith("earlier content\n")  # appended, never overwritten
    request = job["pending_approvals"][0]["request"]
    assert f"agentctl approve {job['id']} {request}" in summary
    assert f"agentctl resume {job['id']}" in summary
    assert "| build | run | ✅ succeeded |" in summary and "Ship it?" in summary
    assert "`echo built`" in summary and "### Usage" in summary


@pytest.mark.slow
@pytest.mark.e2e
def test_a_failed_step_is_an_error_annotation(tmp_path, workspace):
    recipe = write_recipe(tmp_path, "  - id: boom\n    run: echo the-cause; exit 7\n")
    done = run_in_actions(tmp_path, recipe, workspace)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("::error")]
    # One failure, one annotation: the job's, naming the step, carrying the failing command's
    # last output and what to type next, in words (no internal codes such as step_failed).
    [job_error] = errors
    assert "failed in step boom::" in job_error and "exit 7" in job_error
    assert "the-cause" in job_error and "rollback" in job_error
    assert not any("step_failed" in line or "nonzero_exit" in line for line in errors)
    summary = (tmp_path / "summary.md").read_text()
    assert "❌ failed" in summary and "exit 7" in summary
    assert "### What failed" in summary and "the-cause" in summary
    assert "agentctl rollback" in summary and "step_failed" not in summary


@pytest.mark.slow
@pytest.mark.e2e
def test_outside_actions_there_are_no_workflow_commands(tmp_path, workspace):
    recipe = write_recipe(tmp_path, "  - id: a\n    run: 'true'\n")
    done = subprocess.run(
        [sys.executable, "-m", "agentctl", "run", str(recipe), "--workspace", str(workspace)],
        env=agentctl_env(tmp_path / "a.db", CI="true", GITHUB_ACTIONS=""),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0 and "::" not in done.stderr


def ev(seq: int, type_: str, step: str | None = None, **data) -> Event:
    return Event(seq, 1_700_000_000.0 + seq, type_, step, data)


def test_groups_close_when_the_job_stops_mid_step():
    commands = WorkflowCommands("j1")
    assert commands.around(ev(1, "step_started", "a", kind="run")) == (
        ["::group::step a (run)"],
        [],
    )
    before, after = commands.around(ev(2, "job_interrupted", reason="x"))
    assert before == ["::endgroup::"] and after == []
    assert commands.around(ev(3, "job_succeeded")) == ([], [])


def test_data_cannot_forge_a_workflow_command():
    commands = WorkflowCommands("j1")
    commands.around(ev(1, "step_started", "a\n::add-mask::x", kind="run"))
    forged = "50% done\n::set-output name=x::y\r"
    commands.around(ev(2, "step_finished", "a", state="failed", error=forged))
    _, after = commands.around(ev(3, "job_succeeded"))  # a failed step the job went past
    line = after[-1]
    assert "\n" not in line and "\r" not in line
    assert line.endswith("50%25 done\\n::set-output name=x::y\\r")
    assert escape_data("a%\r\n") == "a%25\\r\\n"
    commands.around(ev(4, "step_finished", "a", state="failed", error=forged))
    _, after = commands.around(ev(5, "job_failed", error={"message": forged}))
    [line] = after  # the message's lines are encoded: one command line, never two
    assert "\n" not in line and "\r" not in line and line.startswith("::error title=")


def test_summary_escapes_markdown_and_html():
    job = {
        "id": "j1",
        "recipe": "<img src=x onerror=alert(1)>",
        "state": "awaiting_approval",
        "steps": [{"id": "a|b", "kind": "run", "state": "succeeded"}],
        "usage": {
            "model_calls": 1,
            "tool_calls": 1,
            "input_tokens": 10,
            "output_tokens": 2,
            "cost_usd": 0.0042,
        },
        "pending_approvals": [
            {
                "request": "r4",
                "step": "a|b",
                "tool": "shell",
                "args": {"command": "git push | tee `x`"},
                "rules": ["push-needs-a-human"],
                "reason": "**bold** [l](u)",
            }
        ],
    }
    events = [
        ev(
            3, "action_started", "a|b", key="k", tool="shell", args={"command": "echo '|' \x1b[31m"}
        ),
        ev(4, "action_finished", "a|b", key="k", tool="shell", ok=True, duration_ms=5),
        ev(5, "approval_requested", "a|b", request="r4", reason="**bold** [l](u)"),
    ]
    summary = render_summary(job, events)
    assert "<img" not in summary and "&lt;img" in summary
    assert "| a\\|b | run |" in summary  # a pipe in data stays inside its cell
    assert "\\*\\*bold\\*\\* \\[l\\](u)" in summary
    assert "\x1b" not in summary and "\\x1b[31m" in summary
    assert "`` git push \\| tee `x` ``" in summary
    assert "push-needs-a-human" in summary.replace("\\", "")
    assert "cost $0.0042" in summary
    assert "agentctl approve j1 r4" in summary and "agentctl resume j1" in summary
    assert md_text("a_b") == "a\\_b"


def test_the_summary_shows_a_failed_check_its_output_and_what_to_type():
    job = {
        "id": "j2",
        "recipe": "fix",
        "state": "failed",
        "error": {"type": "step_failed", "message": "step fix: the check still fails"},
        "steps": [{"id": "fix", "kind": "agent", "state": "failed"}],
        "usage": {
            "model_calls": 1,
            "tool_calls": 1,
            "input_tokens": 1,
            "output_tokens": 1,
            "cost_usd": 0.0,
        },
        "pending_approvals": [],
    }
    check = {"key": "fix/check3", "tool": "shell"}
    events = [
        ev(1, "action_started", "fix", **check, args={"command": "pytest -x"}),
        ev(2, "action_finished", "fix", **check, ok=False, exit_code=1, output="E ```boom```\n"),
        ev(3, "step_finished", "fix", state="failed", error="the check still fails"),
    ]
    summary = render_summary(job, events)
    assert "| fix | check 3 |" in summary and "| fix | shell |" not in summary
    assert "The check `pytest -x` in step fix failed with exit 1." in summary
    assert "````text\nE ```boom```\n````" in summary  # the fence outgrows the output's
    assert "agentctl rollback j2" in summary and "step_failed" not in summary
    assert "1 model call," in summary and "1 tool call," in summary


def test_summary_shows_an_expired_approval_as_expired_not_approved():
    job = {
        "id": "j1",
        "recipe": "r",
        "state": "succeeded",
        "steps": [],
        "usage": {
            "model_calls": 0,
            "tool_calls": 0,
            "input_tokens": 0,
            "output_tokens": 0,
            "cost_usd": 0.0,
        },
        "pending_approvals": [],
    }
    events = [
        ev(1, "approval_requested", "s", request="r1", reason="write late.txt"),
        ev(2, "approval_decided", "s", request="r1", decision="approved", by="ann"),
        ev(3, "approval_expired", "s", request="r1"),
    ]
    row = next(line for line in render_summary(job, events).splitlines() if "| r1 |" in line)
    assert "| expired |" in row and "approved" not in row


def test_an_expired_approval_is_a_warning_annotation():
    commands = WorkflowCommands("j1")
    before, after = commands.around(ev(3, "approval_expired", "ship", request="r1"))
    assert before == []
    assert after == [
        "::warning title=agentctl job j1::[ship] approval r1 expired: counted as a deny"
    ]


def finished_job(**extra) -> dict:
    job = {
        "id": "j3",
        "recipe": "fix",
        "state": "succeeded",
        "steps": [
            {"id": "context", "kind": "run", "state": "succeeded", "output": "3 failed\n"},
            {"id": "fix", "kind": "agent", "state": "succeeded", "output": "Fixed `add()`.\n"},
        ],
        "usage": {
            "model_calls": 2,
            "tool_calls": 1,
            "input_tokens": 1,
            "output_tokens": 1,
            "cost_usd": 0.0,
        },
        "pending_approvals": [],
    }
    job.update(extra)
    return job


def test_the_summary_carries_the_answer_and_the_changed_files_with_a_collapsed_diff():
    before = {
        "mode": "100644",
        "sha256": "a",
        "size": 33,
        "text": "def add(a, b):\n    return a - b\n",
    }
    after = {
        "mode": "100644",
        "sha256": "b",
        "size": 33,
        "text": "def add(a, b):\n    return a + b\n",
    }
    change = {"path": "calc.py", "kind": "modified", "before": before, "after": after}
    events = [
        ev(1, "action_started", "fix", key="k", tool="edit_file", args={"path": "calc.py"}),
        ev(2, "action_finished", "fix", key="k", tool="edit_file", ok=True, changes=[change]),
    ]
    summary = render_summary(finished_job(), events)
    answer = summary.index("### Answer")
    assert summary.index("Fixed `add()`.", answer) > answer  # the agent's words, as written
    assert "3 failed" not in summary  # the last step's output, not an earlier one's
    details = summary[summary.index("<details>") : summary.index("</details>")]
    assert "<summary>files changed: calc.py (+1 −1)</summary>" in details
    assert "```diff\n" in details and "-    return a - b\n+    return a + b\n" in details
    assert "agentctl diff j3" in summary


def test_a_failed_step_makes_one_error_annotation_not_two():
    commands = WorkflowCommands("j1")
    lines: list[str] = []
    for event in (
        ev(1, "step_started", "boom", kind="run"),
        ev(2, "step_finished", "boom", state="failed", error="command failed with exit 7"),
        ev(3, "job_failed", error={"type": "step_failed", "message": "step boom failed"}),
    ):
        before, after = commands.around(event)
        lines += before + after
    errors = [line for line in lines if line.startswith("::error")]
    assert len(errors) == 1, lines
    assert "boom" in errors[0] and "exit 7" in errors[0]


def test_commands_in_the_summarys_prose_are_code_not_escaped_backticks():
    job = finished_job(
        state="failed", error={"type": "limit", "message": "limit max_turns reached: 5 of 5"}
    )
    summary = render_summary(job, [])
    assert "\\`" not in summary, summary
    assert "`agentctl resume j3 --limit NAME=VALUE`" in summary
