"""A rule that voted on an action, in its two forms.

JSON (job JSON's pending approvals, `policy explain --json`, events) holds each rule as an
object `{"policy", "id", "decision", "reason"}` (built-in rules have `"policy": "builtin"`);
people read the short form `policy:id (decision)`. Logs written before rule objects hold the
short strings: both functions here take either form, so every reader keeps working.
Light on purpose: the renderers import it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

_SHORT_FORM = re.compile(r"^(?P<label>.*) \((?P<decision>allow|ask|deny)\)$")


def rule_object(rule: Any) -> dict[str, str]:
    """A rule that voted as an object, from an object (kept) or the short string form."""
    if isinstance(rule, dict):
        return {str(k): str(v) for k, v in rule.items() if v is not None}
    text = str(rule)
    match = _SHORT_FORM.match(text)
    label, decision = (match["label"], match["decision"]) if match else (text, "ask")
    policy, _, rule_id = label.rpartition(":")
    return {"policy": policy, "id": rule_id, "decision": decision}


def rule_label(rule: Any) -> str:
    """The short form people read, `policy:id (decision)`, from either form."""
    if isinstance(rule, dict):
        return f"{rule.get('policy', '')}:{rule.get('id', '')} ({rule.get('decision', '')})"
    return str(rule)


def rule_labels(rules: Iterable[Any], *, reasons: bool = False) -> str:
    """Rules joined for one line; with `reasons`, each followed by its reason."""
    out = []
    for rule in rules:
        reason = rule.get("reason") if reasons and isinstance(rule, dict) else None
        out.append(rule_label(rule) + (f": {reason}" if reason else ""))
    return ("; " if reasons else ", ").join(out)


def from_default_policy(rule: Any) -> bool:
    """Whether the vote is the built-in default policy's (used when no policy is given)."""
    return rule_object(rule).get("policy") == "default"


__all__ = ["from_default_policy", "rule_label", "rule_labels", "rule_object"]
