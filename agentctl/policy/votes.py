"""What a policy says about an action: the ordered decision `Verdict` (allow < ask < deny), one
rule's `Vote`, and the `Decision` they make together.

A vote has one form in memory (`Vote`) and two outside: JSON (job JSON's pending approvals,
`policy explain --json`, events) holds each as an object `{"policy", "id", "decision",
"reason"}` (built-in rules have `"policy": "builtin"`); people read the short form
`policy:id (decision)`. Logs written before rule objects hold the short strings: the readers
here (`rule_object`, `rule_label`) take either form, so every reader keeps working.
Light on purpose: the renderers import it, and it imports nothing of agentctl.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TypedDict

_SHORT_FORM = re.compile(r"^(?P<label>.*) \((?P<decision>allow|ask|deny)\)$")


class Verdict(StrEnum):
    """allow, ask or deny, ordered by strictness: a stricter verdict always wins. Its value is
    the word JSON, the log and `agentctl policy explain`/`check` show."""

    ALLOW = "allow"
    ASK = "ask"
    DENY = "deny"

    @property
    def strictness(self) -> int:
        return _STRICTNESS[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Verdict):
            return NotImplemented
        return self.strictness < other.strictness

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Verdict):
            return NotImplemented
        return self.strictness <= other.strictness

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Verdict):
            return NotImplemented
        return self.strictness > other.strictness

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Verdict):
            return NotImplemented
        return self.strictness >= other.strictness


_STRICTNESS = {Verdict.ALLOW: 0, Verdict.ASK: 1, Verdict.DENY: 2}


def strictest(verdicts: Iterable[Verdict]) -> Verdict:
    """The strictest of `verdicts`; allow when there are none."""
    return max(verdicts, key=_STRICTNESS.__getitem__, default=Verdict.ALLOW)


@dataclass(frozen=True)
class Vote:
    """One rule's vote: a policy's rule (`id`), its default (`default`), or a built-in
    protection (`policy` "builtin")."""

    decision: Verdict
    policy: str  # the policy's name, or "builtin"
    id: str  # the rule's id, "default", or the built-in protection's name
    reason: str

    @classmethod
    def builtin(cls, decision: Verdict, name: str, reason: str) -> Vote:
        return cls(decision, "builtin", name, reason)

    @property
    def label(self) -> str:
        """`policy:id`."""
        return f"{self.policy}:{self.id}"

    @property
    def short(self) -> str:
        """The form people read: `policy:id (decision)`."""
        return f"{self.policy}:{self.id} ({self.decision})"

    def to_dict(self) -> dict[str, str]:
        """The vote as JSON shows it: {"policy", "id", "decision", "reason"}."""
        return {
            "policy": self.policy,
            "id": self.id,
            "decision": str(self.decision),
            "reason": self.reason,
        }


class DecisionJSON(TypedDict):
    """A decision as `policy explain --json` and the effect check show it."""

    decision: str
    rules: list[dict[str, str]]
    reason: str


@dataclass(frozen=True)
class Decision:
    """The decision on one action: the strictest vote, every rule that voted (one vote per
    rule and decision, its reasons joined) and why."""

    decision: Verdict
    reason: str = ""
    votes: tuple[Vote, ...] = ()

    @property
    def rules(self) -> list[str]:
        """Every rule that voted, in the short form `policy:rule (decision)`."""
        return [v.short for v in self.votes]

    @property
    def rule_objects(self) -> list[dict[str, str]]:
        """Every rule that voted as {"policy", "id", "decision", "reason"} (the JSON form)."""
        return [v.to_dict() for v in self.votes]

    def to_dict(self) -> DecisionJSON:
        return {"decision": str(self.decision), "rules": self.rule_objects, "reason": self.reason}

    def with_builtin(self, name: str, decision: Verdict, reason: str) -> Decision:
        """This decision made at least `decision` by a built-in rule (sandbox unavailable, a
        masked secret), which is listed with the others."""
        return Decision(
            strictest([self.decision, decision]),
            reason,
            (*self.votes, Vote.builtin(decision, name, reason)),
        )


# --- reading rules from JSON and old logs ---------------------------------------------------

# A rule as a log or JSON holds it: an object, or (logs before rule objects) the short string.
RuleJSON = Mapping[str, object] | str


def rule_object(rule: RuleJSON) -> dict[str, str]:
    """A rule that voted as an object, from an object (kept) or the short string form."""
    if isinstance(rule, Mapping):
        return {str(k): str(v) for k, v in rule.items() if v is not None}
    text = str(rule)
    match = _SHORT_FORM.match(text)
    label, decision = (match["label"], match["decision"]) if match else (text, str(Verdict.ASK))
    policy, _, rule_id = label.rpartition(":")
    return {"policy": policy, "id": rule_id, "decision": decision}


def rule_label(rule: RuleJSON) -> str:
    """The short form people read, `policy:id (decision)`, from either form."""
    if isinstance(rule, Mapping):
        return f"{rule.get('policy', '')}:{rule.get('id', '')} ({rule.get('decision', '')})"
    return str(rule)


def rule_labels(rules: Iterable[RuleJSON], *, reasons: bool = False) -> str:
    """Rules joined for one line; with `reasons`, each followed by its reason."""
    out = []
    for rule in rules:
        reason = rule.get("reason") if reasons and isinstance(rule, Mapping) else None
        out.append(rule_label(rule) + (f": {reason}" if reason else ""))
    return ("; " if reasons else ", ").join(out)


def from_default_policy(rule: RuleJSON) -> bool:
    """Whether the vote is the built-in default policy's (used when no policy is given)."""
    return rule_object(rule).get("policy") == "default"


__all__ = [
    "Decision",
    "DecisionJSON",
    "RuleJSON",
    "Verdict",
    "Vote",
    "from_default_policy",
    "rule_label",
    "rule_labels",
    "rule_object",
    "strictest",
]
