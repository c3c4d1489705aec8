"""What `jobs`, `status`, `log` and errors print for people and pipes: whole lines outside a
terminal, one time format with a zone, hints that name real commands."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from conftest import assert_bad_input, invoke
from rich.console import Console

LONG_NAME = "a-recipe-name-longer-than-any-eighty-column-terminal-" + "x" * 40
HUMAN_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (?:[A-Z]{2,5}|[+-]\d\d:\d\d)")


@pytest.fixture
def parked(tmp_path, workspace) -> str:
    """A job parked on an approval of a shell command far wider than 80 columns."""
    recipe = tmp_path / "r.yaml"
    command = "echo " + " ".join(f"word{i}" for i in range(40))
    recipe.write_text(f"version: 1\nname: {LONG_NAME}\nsteps:\n  - id: say\n    run: {command}\n")
    policy = tmp_path / "p.yaml"
    policy.write_text("version: 1\nname: p\ndefault: ask\n")
    result = invoke(
        "run", str(recipe), "--workspace", str(workspace), "--policy", str(policy),
        "--non-interactive",
    )  # fmt: skip
    assert result.exit_code == 3, result.stderr
    return command


def test_jobs_in_a_pipe_keeps_whole_names_and_shows_age(parked):
    result = invoke("jobs")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "STATE", "RECIPE", "STEPS", "CREATED", "AGE", "COST"]
    row = lines[1]
    assert LONG_NAME in row and "awaiting_approval" in row
    assert HUMAN_TIME.search(row), row
    assert re.search(r"\s\d+s\s", row)  # the AGE column: seconds old
    assert all(line == line.rstrip() for line in lines)


def test_status_in_a_pipe_never_wraps_the_action(parked):
    result = invoke("status", "last")
    assert result.exit_code == 0
    wanted = "    shell " + json.dumps({"command": parked})
    assert wanted in result.stdout.splitlines(), result.stdout
    assert LONG_NAME in result.stdout
    created = next(line for line in result.stdout.splitlines() if line.startswith("created"))
    assert len(HUMAN_TIME.findall(created)) == 2, created


def test_log_lines_carry_a_date_and_a_zone(parked):
    result = invoke("log", "last")
    assert result.exit_code == 0
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines and all(HUMAN_TIME.search(line) for line in lines), lines


def test_json_times_are_iso_utc(parked):
    job = json.loads(invoke("status", "last", "--json").stdout)
    iso = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
    assert iso.match(job["created_at"]) and iso.match(job["updated_at"])
    assert iso.match(job["pending_approvals"][0]["created_at"])
    events = [json.loads(line) for line in invoke("log", "last", "--json").stdout.splitlines()]
    assert all(iso.match(event["ts"]) for event in events)


def test_human_time_names_its_zone(monkeypatch):
    from agentctl.times import human_age, human_time

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        assert human_time(0) == "1970-01-01 00:00:00 UTC"
        assert human_time("1970-01-01T00:00:00.000Z") == "1970-01-01 00:00:00 UTC"
        monkeypatch.setenv("TZ", "<+0530>-5:30")  # a zone with no short name
        time.tzset()
        assert human_time(0) == "1970-01-01 05:30:00 +05:30"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert [human_age(s) for s in (5, 61, 7200, 90000)] == ["5s", "1m", "2h", "1d"]


def test_approval_details_show_a_time_not_an_epoch_float():
    from agentctl.ui.approval_panel import render_approval

    request = {
        "request": "r3",
        "step": "s",
        "tool": "shell",
        "args": {"command": "ls"},
        "reason": "asks",
        "created_at": 1_700_000_000.123,
    }
    console = Console(record=True, width=200)
    console.print(render_approval(request, details=True))
    text = console.export_text()
    assert "1700000000" not in text
    assert HUMAN_TIME.search(text), text


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["--db", "/tmp/x.db", "run"], "hint: see `agentctl run --help`"),
        (["frobnicate"], "hint: see `agentctl --help`"),
        (["jobs", "--bogus"], "hint: see `agentctl jobs --help`"),
        (["--db", "/tmp/x.db", "policy", "explain", "--bogus"], "`agentctl policy explain --help`"),
    ],
)
def test_usage_hints_name_the_command_not_an_option_value(args, hint):
    result = invoke(*args)
    assert_bad_input(result, hint)
    assert "/tmp/x.db --help" not in result.stderr


def test_bare_agentctl_shows_help_without_an_empty_error():
    result = invoke()
    assert result.exit_code == 0
    assert "Usage" in result.stdout and "error:" not in result.stderr


def test_a_group_without_its_command_says_which_there_are():
    result = invoke("policy")
    assert_bad_input(result, "explain")
    assert "error: \n" not in result.stderr


def test_a_missing_policy_file_hint_spells_policies(tmp_path):
    result = invoke("policy", "explain", str(tmp_path / "nope.yaml"), "--", "shell", "command=ls")
    assert_bad_input(result, "policies/")
    assert "policys" not in result.stderr


def test_run_help_names_a_recipe_that_exists():
    result = invoke("run", "--help")
    named = re.findall(r"[\w/.-]+\.yaml", result.stdout)
    assert named
    shipped = Path(__file__).parent.parent / "recipes"
    assert all((shipped / Path(name).name).is_file() for name in named), named
