"""The job's vocabulary: enums that are their strings, and a formatter for every event type."""

from __future__ import annotations

import json

from agentctl.events import (
    EXIT_CODES,
    FORMATTERS,
    TERMINAL_STATES,
    EventType,
    ExitCode,
    JobState,
    describe_event,
)


def test_every_event_type_has_a_formatter_and_nothing_else_does():
    assert set(FORMATTERS) == set(EventType)


def test_every_formatter_copes_with_empty_data():
    for type_ in EventType:
        assert isinstance(describe_event(type_, "s", {}), str), type_


def test_members_are_their_strings_in_json_and_in_the_store():
    assert json.dumps({"state": JobState.AWAITING_APPROVAL, "type": EventType.STEP_STARTED}) == (
        '{"state": "awaiting_approval", "type": "step_started"}'
    )
    assert f"{JobState.FAILED}" == "failed" and str(EventType.ROLLBACK) == "rollback"
    assert EventType("approval_expired") is EventType.APPROVAL_EXPIRED


def test_exit_codes_are_the_documented_ones():
    assert {state: int(code) for state, code in EXIT_CODES.items()} == {
        "succeeded": 0,
        "failed": 1,
        "awaiting_approval": 3,
        "cancelled": 4,
        "interrupted": 130,
    }
    assert ExitCode.USAGE == 2
    assert json.dumps(ExitCode.INTERRUPTED) == "130"


def test_terminal_states_never_run_again():
    assert set(TERMINAL_STATES) == {"succeeded", "failed", "cancelled"}
    assert JobState.QUEUED not in TERMINAL_STATES


def test_the_words_of_issue_24():
    from agentctl.events import describe_event

    # A plain Ctrl-C is not "interrupted: interrupted".
    assert describe_event("job_interrupted", None, {"reason": "interrupted"}) == "job interrupted"
    assert (
        describe_event("job_interrupted", None, {"reason": "the runner stopped (SIGTERM)"})
        == "job interrupted: the runner stopped (SIGTERM)"
    )
    # The step is named once.
    said = describe_event(
        "step_finished", "boom", {"state": "failed", "error": "step boom: `exit 7` failed"}
    )
    assert said == "[boom] step failed: `exit 7` failed"
    # An MCP server without a sandbox says so.
    started = {"server": "git", "transport": "stdio", "confinement": "none", "target": "git-mcp"}
    assert describe_event("mcp_server_started", None, started) == (
        "MCP server git started (stdio, no sandbox): git-mcp"
    )
    # A denial shows the votes that denied, not the allows beside them.
    rules = [
        {"policy": "ci-safe", "id": "safe-commands", "decision": "allow"},
        {"policy": "ci-safe", "id": "no-destruction", "decision": "deny"},
    ]
    refused = {"tool": "shell", "refused": True, "error": "denied", "rules": rules}
    line = describe_event("action_finished", "fix", {**refused, "decision": "deny"})
    assert line == "[fix] ✗ shell not run: denied by ci-safe:no-destruction", line
