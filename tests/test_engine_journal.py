"""The replay index: a job's log folded into what a resume answers from, as typed events."""

from __future__ import annotations

from agentctl.engine.journal import ReplayIndex
from agentctl.events import ActionFinished, ActionStarted, ModelResponse, StepFinished
from agentctl.store import Event


def _log(*events: tuple[float, str, str | None, dict]) -> list[Event]:
    return [Event(seq, ts, type_, step, data) for seq, (ts, type_, step, data) in enumerate(events)]


def _finished(key: str, **extra: object) -> dict:
    base = {"key": key, "tool": "shell", "ok": False, "output": "", "exit_code": None}
    return {**base, "truncated": False, "error": None, "duration_ms": 5, **extra}


def test_the_index_folds_the_log_into_typed_events():
    reply = {"model": "m", "message": {"role": "assistant", "content": "done"}}
    index = ReplayIndex.from_events(
        _log(
            (100.0, "runner_started", None, {"pid": 1, "host": "h", "token": 1, "resumed": False}),
            (101.0, "model_response", "fix", {"key": "fix/t0", "reply": reply, "wall_ms": 9}),
            (102.0, "action_started", "fix", {"key": "fix/t0/c0", "tool": "shell", "args": {}}),
            (103.0, "action_finished", "fix", _finished("fix/t0/c0", ok=True, error=None)),
            (103.5, "action_started", "fix", {"key": "fix/t0/c1", "tool": "shell", "args": {}}),
            (104.0, "action_finished", "fix", _finished("fix/t0/c1", held=True, reason="r")),
            (104.5, "action_started", "fix", {"key": "fix/t0/c2", "tool": "git.log", "args": {}}),
            (
                105.0,
                "action_finished",
                "fix",
                _finished("fix/t0/c2", error="stopped", stopped_by="x"),
            ),
            (106.0, "limits_changed", None, {"limits": {"max_turns": 9}}),
            (107.0, "mcp_tools_pinned", "fix", {"server": "git", "tools": {"log": "h1"}}),
            (108.0, "lease_renewed", None, {"by": "a newer agentctl"}),  # a type not known here
            (110.0, "step_finished", "fix", {"state": "succeeded", "output": "ok"}),
            (200.0, "runner_started", None, {"pid": 2, "host": "h", "token": 2, "resumed": True}),
            (205.0, "approval_requested", "fix", {"request": "r9", "key": "k", "ahead": True}),
        )
    )
    assert index.models == {"fix/t0": ModelResponse(key="fix/t0", reply=reply, wall_ms=9)}
    assert index.model_calls == 1
    assert isinstance(index.finished["fix/t0/c0"], ActionFinished)
    assert index.finished["fix/t0/c0"].ok is True
    # Held: neither started nor finished; stopped by a person: decided again like a new action.
    assert set(index.held) == {"fix/t0/c1"} and index.held["fix/t0/c1"].reason == "r"
    assert set(index.started) == {"fix/t0/c0"} and set(index.finished) == {"fix/t0/c0"}
    assert isinstance(index.started["fix/t0/c0"], ActionStarted)
    assert index.steps == {"fix": StepFinished(state="succeeded", output="ok")}
    assert index.limits == {"max_turns": 9} and index.pins == {"git": {"log": "h1"}}
    assert index.requests["k"].request == "r9" and index.requests["k"].ahead
    assert index.active_seconds == (110.0 - 100.0) + (205.0 - 200.0)


def test_an_old_log_without_newer_fields_still_replays():
    # An early agentctl wrote no wall_ms, no read_only and no decision.
    index = ReplayIndex.from_events(
        _log(
            (1.0, "model_response", "s", {"key": "s/t0", "reply": {"model": "m"}}),
            (2.0, "action_started", "s", {"key": "s/t0/c0", "tool": "shell", "args": {}}),
        )
    )
    assert index.models["s/t0"].wall_ms == 0
    assert index.started["s/t0/c0"].decision == ""
