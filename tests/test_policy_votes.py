"""Rules that voted, as objects in JSON and as `policy:id (decision)` for people; logs
written before rule objects (short strings) still read."""

from __future__ import annotations

from agentctl.events import describe_event
from agentctl.policy.votes import from_default_policy, rule_label, rule_labels, rule_object

NEW = {"policy": "ci-safe", "id": "no-destruction", "decision": "deny", "reason": "destructive"}
OLD = "ci-safe:no-destruction (deny)"


def test_both_forms_read_the_same():
    assert rule_label(NEW) == rule_label(OLD) == OLD
    assert rule_object(OLD) == {"policy": "ci-safe", "id": "no-destruction", "decision": "deny"}
    assert rule_object(NEW) == NEW
    assert rule_object("builtin:unknown-command (ask)")["policy"] == "builtin"


def test_labels_with_reasons_for_the_approval_prompt():
    builtin = {"policy": "builtin", "id": "unparseable", "decision": "ask", "reason": "why"}
    assert rule_labels([NEW, builtin], reasons=True) == (
        "ci-safe:no-destruction (deny): destructive; builtin:unparseable (ask): why"
    )
    assert rule_labels([OLD, NEW]) == f"{OLD}, {OLD}"


def test_the_default_policy_vote_is_known_in_both_forms():
    assert from_default_policy("default:default (allow)")
    assert from_default_policy({"policy": "default", "id": "default", "decision": "allow"})
    assert not from_default_policy(NEW)


def test_the_plain_log_reads_old_and_new_events_alike():
    for rules in ([OLD], [NEW]):
        line = describe_event(
            "action_finished", "s", {"tool": "shell", "refused": True, "rules": rules}
        )
        assert line is not None and line.endswith(f"by {OLD}")
        started = describe_event(
            "action_started",
            "s",
            {"tool": "shell", "args": {"command": "ls"}, "decision": "deny", "rules": rules},
        )
        # The decision is said once, before the votes that made it.
        assert started is not None and "(deny by ci-safe:no-destruction)" in started
