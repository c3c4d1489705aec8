"""The job's vocabulary: enums that are their strings, and a dataclass for every event type."""

from __future__ import annotations

import json

from agentctl.events import (
    EXIT_CODES,
    TERMINAL_STATES,
    EventType,
    ExitCode,
    JobState,
)


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
