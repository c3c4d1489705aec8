"""Rules that voted, as objects in JSON and as `policy:id (decision)` for people; logs
written before rule objects (short strings) still read."""

from __future__ import annotations

from agentctl.policy.votes import from_default_policy, rule_label, rule_labels, rule_object
from agentctl.ui.event_lines import describe_event

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


def test_verdicts_are_ordered_by_strictness_and_keep_their_words():
    from agentctl.policy.votes import Verdict, strictest

    assert Verdict.ALLOW < Verdict.ASK < Verdict.DENY
    assert strictest([Verdict.ASK, Verdict.ALLOW]) == Verdict.ASK
    assert strictest([Verdict.DENY, Verdict.ASK, Verdict.ALLOW]) == Verdict.DENY
    assert strictest([]) == Verdict.ALLOW
    # The word is what JSON, the log and `policy explain` show.
    assert [str(v) for v in Verdict] == ["allow", "ask", "deny"]
    assert f"{Verdict.DENY}" == "deny" and Verdict("ask") is Verdict.ASK


def test_a_vote_in_its_two_outside_forms():
    from agentctl.policy.votes import Decision, Verdict, Vote

    vote = Vote(Verdict.DENY, "ci-safe", "no-destruction", "destructive")
    assert vote.to_dict() == NEW
    assert vote.short == rule_label(NEW) == OLD
    decision = Decision(Verdict.DENY, "", (vote,)).with_builtin("repeat", Verdict.ASK, "again")
    # A built-in vote never loosens a decision; it is listed with the others.
    assert decision.decision == Verdict.DENY
    assert decision.rules == [OLD, "builtin:repeat (ask)"]
    assert decision.rule_objects[1] == rule_object(
        {"policy": "builtin", "id": "repeat", "decision": "ask", "reason": "again"}
    )
