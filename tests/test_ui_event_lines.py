"""The words for events: a formatter for every event type, and what they say."""

from __future__ import annotations

from agentctl.events import EventType
from agentctl.ui.event_lines import FORMATTERS, describe_event


def test_every_event_type_has_a_formatter_and_nothing_else_does():
    assert set(FORMATTERS) == set(EventType)


def test_every_formatter_copes_with_empty_data():
    for type_ in EventType:
        assert isinstance(describe_event(type_, "s", {}), str), type_


def test_the_words_of_issue_24():
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
