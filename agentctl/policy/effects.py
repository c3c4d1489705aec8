"""The effect check: what an action did to the workspace, held against the policies' write rules.

A policy decides an action from a prediction of what its command will do; a program with one
option the tables do not know (`git log --output=FILE`) writes files the prediction never
saw. So after every action that may write (shell, `interactive`, MCP and custom command
tools, `run:` steps) the change recorder's observed change set is decided here, path by path,
as writes: each changed path (both names of a rename) as a `write_file` of it plus the
acting tool's own `paths:` rules, with the built-in votes (secret files, protected names,
paths outside the workspace through a symlink). A `.git` that appeared counts as a write of
it. The engine (`agentctl.engine.effects`) undoes what is denied or asked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentctl.policy.votes import Decision, Verdict, strictest

if TYPE_CHECKING:
    from agentctl.policy.rules import PolicySet
    from agentctl.tools.base import Touches


@dataclass(frozen=True)
class EffectVerdict:
    path: str  # workspace-relative, posix
    kind: str  # created | modified | deleted | renamed | mode | renamed away
    decision: Decision

    def describe(self) -> str:
        deciding = [v for v in self.decision.votes if v.decision == self.decision.decision]
        rules = ", ".join(v.short for v in deciding)
        return f"{self.path} ({self.kind}): {self.decision.reason} [rules: {rules}]"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, **self.decision.to_dict()}


@dataclass(frozen=True)
class EffectCheck:
    """Every changed path's decision; `decision` is the strictest of those not approved."""

    verdicts: tuple[EffectVerdict, ...]
    approved: frozenset[str] = frozenset()  # asked paths a person approved
    # A person approved the action itself: what the policies' rules ask about is theirs to
    # say; a built-in ask (a protected name, say) on a path the action did not name is not.
    person_approved: bool = False

    @property
    def blocking(self) -> list[EffectVerdict]:
        return [v for v in self.verdicts if not self._passes(v)]

    def _passes(self, verdict: EffectVerdict) -> bool:
        decision = verdict.decision
        if decision.decision != Verdict.ASK:
            return decision.decision == Verdict.ALLOW
        if verdict.path in self.approved:
            return True
        asks = [v for v in decision.votes if v.decision == Verdict.ASK]
        return self.person_approved and all(v.policy != "builtin" for v in asks)

    @property
    def decision(self) -> Verdict:
        return strictest(v.decision.decision for v in self.blocking)

    @property
    def asked_paths(self) -> list[str]:
        return sorted({v.path for v in self.blocking if v.decision.decision == Verdict.ASK})

    def reason(self) -> str:
        """The blocking changes, each with its rules and why, for the model and the log."""
        strict = self.decision
        return "; ".join(v.describe() for v in self.blocking if v.decision.decision == strict)

    def rule_objects(self) -> list[dict[str, str]]:
        seen: dict[tuple[str, str, Verdict], dict[str, str]] = {}
        for verdict in self.blocking:
            for vote in verdict.decision.votes:
                if vote.decision == verdict.decision.decision:
                    seen.setdefault((vote.policy, vote.id, vote.decision), vote.to_dict())
        return list(seen.values())

    def to_list(self) -> list[dict[str, Any]]:
        return [v.to_dict() for v in self.blocking]


def changed_paths(
    changes: Iterable[Mapping[str, Any]], markers: Iterable[Mapping[str, Any]] = ()
) -> list[tuple[str, str]]:
    """(path, kind) for every path a change set touched: both names of a rename, and each
    `.git` that appeared or was replaced (`markers`, from the recorder)."""
    out: list[tuple[str, str]] = []
    for change in changes:
        out.append((change["path"], change["kind"]))
        if change.get("from_path"):
            out.append((change["from_path"], "renamed away"))
    out += [(m["path"], m["kind"]) for m in markers]
    return list(dict.fromkeys(out))


def check_effects(
    policy: PolicySet,
    tool: str,
    changes: Iterable[Mapping[str, Any]],
    markers: Iterable[Mapping[str, Any]] = (),
    *,
    workspace: Path,
    db_path: Path | None = None,
    approved: frozenset[str] = frozenset(),
    person_approved: bool = False,
) -> EffectCheck:
    """Decide each path an action changed as a write of it by `tool`. `approved`: asked
    paths a person approved; `person_approved`: a person approved the action itself (what
    it named counts as approved then: pass them in `approved`)."""
    verdicts = tuple(
        EffectVerdict(
            path, kind, policy.decide_write(tool, path, workspace=workspace, db_path=db_path)
        )
        for path, kind in changed_paths(changes, markers)
    )
    return EffectCheck(verdicts, approved, person_approved)


def named_paths(
    tool: str, args: dict[str, Any], *, workspace: Path, touches: Touches | None
) -> frozenset[str]:
    """The workspace paths an action names (its arguments, a command's words and redirects):
    a person who approved the action saw them."""
    import os

    from agentctl.policy.touches import build_parts

    root = os.path.realpath(workspace)
    found: set[str] = set()
    for part in build_parts(tool, dict(args or {}), root, frozenset(), touches):
        for path in part.paths:
            if path.rel is not None and path.unknown is None:
                found.add(path.rel.replace(os.sep, "/"))
            if path.literal.startswith(root.rstrip(os.sep) + os.sep):
                found.add(os.path.relpath(path.literal, root).replace(os.sep, "/"))
    return frozenset(found)


__all__ = [
    "EffectCheck",
    "EffectVerdict",
    "changed_paths",
    "check_effects",
    "named_paths",
]
