"""The plain renderer: one line per event with its time, and never a terminal code."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import pytest
from conftest import agentctl_env

from agentctl.events import EventType
from agentctl.store import Event
from agentctl.ui.event_lines import describe_event
from agentctl.ui.plain import EventPrinter, format_event_line
from agentctl.visible import make_visible

EVIL = "\x1b]0;evil\x07\x1b[31mred\x9b2J\r\n[link=http://x]y[/link]\u202eabc\u2066\u200b"
ESCAPE_CODES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
LINE = re.compile(r"^[0-9a-f]{10} \d{4}-\d\d-\d\d \d\d:\d\d:\d\d (?:[A-Z]{2,5}|[+-]\d\d:\d\d) \S")

EVERY_EVENT = [
    ("job_created", None, {"recipe": EVIL, "workspace": EVIL}),
    ("runner_started", None, {"pid": 7, "host": EVIL, "resumed": False}),
    ("step_started", EVIL, {"kind": EVIL}),
    (
        "model_response",
        "s",
        {
            "reply": {
                "model": EVIL,
                "message": {"content": EVIL},
                "input_tokens": 1,
                "output_tokens": 2,
                "cost_usd": 0.1,
            }
        },
    ),
    ("action_started", "s", {"tool": "shell", "args": {"command": EVIL}}),
    ("action_started", "s", {"tool": "write_file", "args": {"path": EVIL, "content": EVIL}}),
    ("action_started", "s", {"tool": EVIL, "args": {"x": EVIL}}),
    ("action_finished", "s", {"tool": EVIL, "ok": False, "error": EVIL, "exit_code": 3}),
    ("approval_requested", "s", {"request": "r1", "reason": EVIL}),
    ("approval_decided", "s", {"request": "r1", "decision": EVIL, "by": EVIL}),
    ("approval_used", "s", {"request": EVIL}),
    ("approval_expired", "s", {"request": EVIL}),
    ("approval_voided", "s", {"request": EVIL, "tool": EVIL}),
    ("policy_added", None, {"path": EVIL, "by": EVIL}),
    ("policy_applied", None, {"path": EVIL}),
    ("limits_changed", None, {"limits": {EVIL: EVIL}}),
    ("workspace_cloned", None, {"url": EVIL, "commit": EVIL, "folder": EVIL}),
    ("workspace_pushed", None, {"url": EVIL, "branch": EVIL, "commit": EVIL, "files": 2}),
    ("mcp_server_started", None, {"server": EVIL, "transport": "stdio", "target": EVIL}),
    ("mcp_tools_pinned", "s", {"server": EVIL, "tools": {EVIL: {}}, "approval": EVIL}),
    ("job_paused", None, {}),
    ("cancel_requested", None, {"by": EVIL}),
    ("rollback_started", None, {}),
    ("rollback", None, {"restored": [EVIL], "removed": [], "conflicts": [EVIL]}),
    ("warning", None, {"message": EVIL}),
    ("step_finished", "s", {"state": "failed", "error": EVIL}),
    ("job_failed", None, {"error": {"type": EVIL, "message": EVIL}}),
    ("job_cancelled", None, {}),
    ("job_interrupted", None, {"reason": EVIL}),
    ("job_succeeded", None, {}),
]


def test_every_event_type_is_among_the_printed_ones():
    assert {type_ for type_, _, _ in EVERY_EVENT} >= set(EventType)


def test_make_visible_escapes_controls_ansi_and_bidi_but_keeps_text():
    shown = make_visible(EVIL)
    assert ESCAPE_CODES.search(shown.replace("\n", "")) is None
    for escaped in (
        "\\x1b]0;evil\\x07",
        "\\x1b[31m",
        "\\x9b",
        "\\r",
        "\\u202e",
        "\\u2066",
        "\\u200b",
        "[link=http://x]y[/link]",
    ):
        assert escaped in shown
    assert make_visible(shown) == shown  # idempotent: escaping twice changes nothing
    assert make_visible("naïve café ✓ 日本") == "naïve café ✓ 日本"


def test_every_event_is_one_timestamped_line_without_escape_codes():
    out = io.StringIO()
    printer = EventPrinter("0123456789", stream=out)
    for seq, (type_, step, data) in enumerate(EVERY_EVENT, start=1):
        printer.on_event(Event(seq, 1_700_000_000 + seq, type_, step, data))
    text = out.getvalue()
    lines = text.splitlines()
    assert len(lines) == len(EVERY_EVENT)  # a newline in data never makes a second line
    assert ESCAPE_CODES.search(text.replace("\n", "")) is None
    assert "\x1b" not in text and "\u202e" not in text
    for line in lines:
        assert LINE.match(line), line
    assert "\\x1b]0;evil\\x07" in text and "[link=http://x]y[/link]" in text


def test_an_expired_approval_has_its_line():
    line = describe_event("approval_expired", "ship", {"request": "r3"})
    assert line == "[ship] approval r3 expired: counted as a deny"


def test_events_not_worth_a_line_print_nothing():
    assert describe_event("lease_renewed", None, {}) is None
    assert format_event_line(1, 0.0, "lease_renewed", None, {}) is None
    out = io.StringIO()
    EventPrinter("j", stream=out).on_event(Event(1, 0.0, "lease_renewed", None, {}))
    assert out.getvalue() == ""


def test_printer_adds_lines_around_an_event():
    out = io.StringIO()
    printer = EventPrinter("j", stream=out, around=lambda e: (["before"], ["after"]))
    printer.on_event(Event(1, 0.0, "job_succeeded", None, {}))
    assert out.getvalue().splitlines()[0] == "before"
    assert out.getvalue().splitlines()[-1] == "after"


@pytest.mark.slow
@pytest.mark.e2e
def test_a_run_in_a_pipe_prints_plain_lines_on_stderr(tmp_path, workspace):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "version: 1\nname: plain\nsteps:\n  - id: say\n"
        "    run: printf '\\033]0;evil\\007\\033[31mred\\n'\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "agentctl", "run", str(recipe), "--workspace", str(workspace)],
        env=agentctl_env(tmp_path / "a.db", GITHUB_ACTIONS=""),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stderr and "\x1b" not in done.stdout
    lines = done.stderr.splitlines()
    assert lines[0].startswith("job ") and "agentctl watch" in lines[0]
    assert all(LINE.match(line) for line in lines[1:]), lines
    assert lines[-1].endswith("job succeeded")
    assert done.stdout.strip().endswith("succeeded")


def test_an_action_line_carries_the_policy_decision_when_there_is_one():
    line = describe_event(
        "action_started",
        "fix",
        {
            "tool": "shell",
            "args": {"command": "pytest -x"},
            "decision": "allow",
            "rules": ["safe-commands"],
        },
    )
    assert line == "[fix] → shell: pytest -x (allow by safe-commands)"
    assert (
        describe_event("action_started", "fix", {"tool": "shell", "args": {"command": "ls"}})
        == "[fix] → shell: ls"
    )
