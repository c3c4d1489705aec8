"""How one action meets one policy: which rules decide each subject of a part, and their votes.

Owns `vote_part` (one policy's votes on one part: on the program it runs or its host, every
path it touches; denies for paths outside the workspace no rule names, and for private
addresses), `names_host` and `writes_denied`. What a rule names and how each kind of
condition meets a subject is `agentctl.policy.conditions`; what an action touches (its
parts, their paths and hosts, the built-in votes) is `agentctl.policy.touches`; combining
votes across policies lives in `agentctl.policy.rules`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Protocol

from agentctl.policy.addresses import literal_address_problem
from agentctl.policy.conditions import (
    CommandCondition,
    CompiledRule,
    Fit,
    HostCondition,
    Names,
    PathCondition,
)
from agentctl.policy.inner import HOLE
from agentctl.policy.touches import Part, TouchedPath
from agentctl.policy.votes import Verdict, Vote
from agentctl.tools.builtin import builtins_where


class RuleSource(Protocol):
    """A policy as matching reads it (`agentctl.policy.rules.Policy`)."""

    @property
    def name(self) -> str: ...

    @property
    def default(self) -> Verdict: ...

    @property
    def rule_checks(self) -> Sequence[CompiledRule]: ...


def _subject_votes(
    policy: RuleSource, fits: list[tuple[CompiledRule, Fit]], subject: str, *, default: bool
) -> list[Vote]:
    """Votes on one subject from each deciding rule's fit: every rule that could match
    votes, an allow only where it must match; the default when no rule must match."""
    votes = [
        Vote(
            r.decision,
            policy.name,
            r.id,
            r.reason or f"{subject} matches rule {r.id} ({r.decision})",
        )
        for r, fit in fits
        if fit.must or (fit.could and r.decision != Verdict.ALLOW)
    ]
    if default and not any(fit.must for _, fit in fits):
        votes.append(
            Vote(
                policy.default,
                policy.name,
                "default",
                f"no rule of {policy.name} matches {subject}",
            )
        )
    return votes


def _deciding(
    rules: Sequence[CompiledRule], part: Part, subject: Names, path: TouchedPath | None = None
) -> list[tuple[CompiledRule, Fit]]:
    """The rules that decide a subject, each with its fit when it could match. Rules naming
    nothing decide the program with the command rules (in the policy's order), and a host,
    or a file tool's path, ahead of the rules naming them."""
    if subject is Names.PROGRAM:
        candidates = [r for r in rules if r.names <= Names.PROGRAM]
    else:
        own = [r for r in rules if r.names is subject]
        action = subject is Names.HOST or part.on_path
        candidates = [r for r in rules if r.names is Names.ACTION] + own if action else own
    fits = [(r, r.fit(part, subject, path)) for r in candidates]
    return [(r, fit) for r, fit in fits if fit.could]


def _decides_program(part: Part) -> bool:
    """Whether a part without a host has a program for rules to decide: not a file tool's
    path or an observed change, not an empty command."""
    return (
        not part.on_path
        and not part.paths_only
        and (part.command is None or part.command.words != ("",))
    )


def vote_part(policy: RuleSource, tool: str, part: Part) -> list[Vote]:
    """One policy's votes on one part: on its host or the program it runs (or the action
    itself), on every path it touches, plus denies for paths outside the workspace that no
    rule names and for private addresses, plus the built-in votes. The strictest decides."""
    rules = [r for r in policy.rule_checks if r.tools.applies(tool)]
    votes: list[Vote] = []
    if part.host is not None:
        fits = _deciding(rules, part, Names.HOST)
        votes += _subject_votes(policy, fits, f"`{part.text}`", default=True)
    elif _decides_program(part):
        fits = _deciding(rules, part, Names.PROGRAM)
        votes += _subject_votes(policy, fits, f"`{part.text}`", default=True)
    for path in part.paths:
        what = f"{path.raw.replace(HOLE, '$…')}" + (
            "" if path.raw == part.text else f" (in `{part.text}`)"
        )
        fits = _deciding(rules, part, Names.PATH, path)
        votes += _subject_votes(policy, fits, what, default=part.on_path)
        if path.rel is None and path.unknown is None:
            votes += _outside_votes(policy, rules, part, path)
    votes += _private_address_votes(policy, part)
    if not votes and part.on_path:
        votes.append(
            Vote(policy.default, policy.name, "default", f"no rule of {policy.name} matches")
        )
    return votes + part.votes


def _private_address_votes(policy: RuleSource, part: Part) -> list[Vote]:
    """A deny for a model-chosen host written as a private address no rule names."""
    if part.host is None or part.recipe_host:
        return []
    problem = literal_address_problem(part.host)
    if not problem or names_host(policy, part.host, []):
        return []
    reason = f"{problem}; no rule of {policy.name} names it in hosts:"
    return [Vote.builtin(Verdict.DENY, "private-address", reason)]


def _outside_votes(
    policy: RuleSource, rules: Sequence[CompiledRule], part: Part, path: TouchedPath
) -> list[Vote]:
    named = any(_names_path(r, part, path) for r in rules)
    if not named:
        return [
            Vote.builtin(
                Verdict.DENY,
                "outside-workspace",
                f"{outside_words(path)} and no rule of {policy.name} names it",
            )
        ]
    if path.redirect:
        return [
            Vote.builtin(
                Verdict.ASK,
                "redirect-outside",
                f"`{part.text}` redirects to {path.absolute}, outside the workspace",
            )
        ]
    return []


def outside_words(path: TouchedPath) -> str:
    """`/etc/passwd is outside the workspace /home/me/proj`; the resolved path too when it is
    not what was written (`../x`, a symlink)."""
    where = f"the workspace {path.root}" if path.root else "the workspace"
    really = "" if path.absolute == path.raw else f" ({path.absolute})"
    return f"{path.raw}{really} is outside {where}"


def _names_path(rule: CompiledRule, part: Part, path: TouchedPath) -> bool:
    """Whether a rule names an outside path by an absolute glob (for this command, if it
    names commands too)."""
    paths = rule.condition(PathCondition)
    if paths is None:
        return False
    commands = rule.condition(CommandCondition)
    if commands is not None:
        fit = commands.fit(part, Names.PATH, path)
        if fit is None or not fit.must:
            return False
    return paths.names_outside(path)


def names_host(policy: RuleSource, host: str, addresses: list[str]) -> bool:
    """Whether a non-deny rule's `hosts` names this host or one of its addresses exactly."""
    wanted = {host.lower().strip("[]"), *addresses}
    for rule in policy.rule_checks:
        hosts = rule.condition(HostCondition)
        if rule.decision != Verdict.DENY and hosts is not None and hosts.names_exactly(wanted):
            return True
    return False


def writes_denied(policy: RuleSource) -> bool:
    """Whether `policy` denies every write of a workspace file, whatever tool makes it: its
    default is deny and no rule for write_file or edit_file (the tools an observed change is
    decided as) allows or asks. The shipped `read-only` policy is one."""
    if policy.default != Verdict.DENY:
        return False
    # The tools whose rules decide a write of a workspace file (write_file, edit_file).
    write_tools = builtins_where(lambda spec: spec.touches.path and spec.touches.writes)
    return not any(
        rule.decision != Verdict.DENY
        and any(
            fnmatch.fnmatchcase(tool, glob) for tool in write_tools for glob in rule.tools.globs
        )
        and rule.condition(CommandCondition) is None
        and rule.condition(HostCondition) is None
        for rule in policy.rule_checks
    )
