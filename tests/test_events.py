"""The job's vocabulary: enums that are their strings, and a dataclass for every event type."""

from __future__ import annotations

import dataclasses
import json

import pytest

from agentctl.event_json import event_data, parse_event
from agentctl.events import (
    EVENT_CLASSES,
    EXIT_CODES,
    TERMINAL_STATES,
    ActionFinished,
    ActionFinishedFields,
    ActionStarted,
    ApprovalRequested,
    EventType,
    ExitCode,
    JobState,
    JobSucceeded,
    McpServerStarted,
    ModelResponse,
    Rollback,
    StepFinished,
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


def test_every_event_type_has_one_dataclass_tagged_with_it():
    assert set(EVENT_CLASSES) == set(EventType)
    for tag, cls in EVENT_CLASSES.items():
        assert cls.type == tag and dataclasses.is_dataclass(cls)
        assert cls.__dataclass_params__.frozen, cls


def test_stored_fields_keep_the_order_and_the_omissions_the_log_always_had():
    # A plain action's result, as written before the events were typed.
    finished = ActionFinished(
        key="fix/t1/c0",
        tool="shell",
        ok=True,
        output="hi\n",
        exit_code=0,
        truncated=False,
        error=None,
        duration_ms=12,
        confinement={"mode": "bwrap"},
        changes=[{"path": "a"}],
    )
    assert json.dumps(event_data(finished)) == (
        '{"key": "fix/t1/c0", "tool": "shell", "ok": true, "output": "hi\\n", "exit_code": 0,'
        ' "truncated": false, "error": null, "duration_ms": 12, "confinement": {"mode": "bwrap"},'
        ' "changes": [{"path": "a"}]}'
    )
    refused = dataclasses.replace(finished, confinement=None, changes=None, args={}, refused=True)
    by_policy = dataclasses.replace(refused, decision="deny", rules=[])
    assert list(event_data(by_policy))[-4:] == ["args", "refused", "decision", "rules"]
    by_person = dataclasses.replace(refused, decision="deny", denied_by="alice", comment="no")
    assert list(event_data(by_person))[-5:] == [
        "args",
        "refused",
        "decision",
        "denied_by",
        "comment",
    ]
    # Defaults of the optional fields stay out; explicit None of a field that has none stays.
    started = ActionStarted(key="k", tool="shell", args={}, read_only=False, decision="allow")
    assert list(event_data(started)) == ["key", "tool", "args", "read_only", "decision"]
    again = ActionStarted(
        key="k", tool="shell", args={}, read_only=False, decision="ask", approval="r3", repeat=2
    )
    assert list(event_data(again))[-2:] == ["approval", "repeat"]
    server = McpServerStarted(server="s", transport="http", target="https://x", confinement=None)
    assert event_data(server) == {
        "server": "s",
        "transport": "http",
        "target": "https://x",
        "confinement": None,
    }
    assert event_data(StepFinished(state="succeeded", output="")) == {
        "state": "succeeded",
        "output": "",
    }
    assert "type" not in event_data(JobSucceeded())


def test_a_stored_event_reads_back_as_its_dataclass():
    asked = ApprovalRequested(
        request="r4",
        key="fix/t2/c0",
        tool="shell",
        args={"command": "make"},
        action_hash="abc",
        reason="asks",
        rules=[{"policy": "p", "id": "i", "decision": "ask", "reason": ""}],
        ahead=True,
    )
    assert parse_event("approval_requested", json.loads(json.dumps(event_data(asked)))) == asked


def test_old_and_newer_logs_read_back_without_failing():
    # An old log lacks a field; a newer agentctl's has one this version does not know.
    old = parse_event("model_response", {"key": "fix/t1", "reply": {"model": "m"}})
    assert old == ModelResponse(key="fix/t1", reply={"model": "m"}, wall_ms=0)
    newer = parse_event("action_started", {"key": "k", "tool": "t", "sandbox_v2": {"x": 1}})
    assert isinstance(newer, ActionStarted) and newer.args == {} and newer.rules is None
    assert parse_event("lease_renewed", {}) is None  # a type this version does not know
    empty = parse_event("rollback", {})
    assert isinstance(empty, Rollback) and empty.to_step is None and empty.restored == []
    for tag in EventType:  # every type reads from nothing at all
        assert parse_event(tag, {}) is not None, tag


@pytest.mark.slow
def test_writing_an_event_outside_the_vocabulary_fails_type_checking(tmp_path):
    from mypy import api

    writer = tmp_path / "writer.py"
    writer.write_text(
        "from agentctl.engine.journal import Journal\n"
        "from agentctl.events import EventType, JobWarning\n"
        "def write(journal: Journal) -> None:\n"
        "    journal.add(JobWarning(message='fine'))\n"
        "    journal.add(EventType.WARNING, None, {'message': 'the old form'})\n"
        "    journal.add(JobWarning(mesage='a wrong field'))\n"
        "    journal.add({'type': 'limits_changed', 'limits': {}})\n"
    )
    out, _, status = api.run(
        [str(writer), "--cache-dir", str(tmp_path / "cache"), "--no-error-summary"]
    )
    errors = sorted({line.split(":")[1] for line in out.splitlines() if ": error:" in line})
    assert status == 1 and errors == ["5", "6", "7"], out


def test_the_fields_gathered_for_a_finished_action_are_its_optional_fields():
    optional = {f.name for f in dataclasses.fields(ActionFinished) if f.metadata}
    assert set(ActionFinishedFields.__annotations__) == optional
