"""How one action meets one policy: which rules match each part of it, and their votes.

Owns path globs relative to the workspace or absolute (the glob language itself is
agentctl.policy.globs), `vote_part` (one policy's votes on one part: on the program it runs,
every path it touches, its host; denies for paths outside the workspace no rule names),
and `names_host`. What an action touches (its parts, their paths and hosts, the
built-in votes) is `agentctl.policy.touches`; combining votes across policies lives in
`agentctl.policy.rules`.
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass
from typing import Any

from agentctl.policy.addresses import literal_address_problem
from agentctl.policy.globs import glob_regex
from agentctl.policy.inner import HOLE
from agentctl.policy.patterns import globs_intersect
from agentctl.policy.touches import GLOB_CHARS, Part, TouchedPath
from agentctl.policy.votes import Verdict, Vote


@dataclass(frozen=True)
class PathGlob:
    """One `paths:` entry: relative globs match inside the workspace, absolute ones anywhere."""

    text: str
    absolute: bool
    regexes: tuple[re.Pattern[str], ...]

    @classmethod
    def compile(cls, text: str) -> PathGlob:
        pattern = os.path.expanduser(text.strip()) if text.strip().startswith("~") else text.strip()
        if pattern.startswith("/"):
            forms = {pattern}
            # Also the prefix with symlinks resolved (/tmp -> /private/tmp on macOS), because
            # touched paths are compared in resolved form.
            head = GLOB_CHARS.split(pattern, 1)[0]
            prefix = head.rsplit("/", 1)[0] if GLOB_CHARS.search(pattern) else pattern
            if prefix:
                forms.add(os.path.realpath(prefix) + pattern[len(prefix) :])
            return cls(text, True, tuple(glob_regex(f.rstrip("/") or "/") for f in sorted(forms)))
        while pattern.startswith("./"):
            pattern = pattern[2:]
        return cls(text, False, (glob_regex(pattern.rstrip("/") or "."),))

    def matches(self, path: TouchedPath) -> bool:
        subject = path.absolute if self.absolute else path.rel
        return subject is not None and any(r.fullmatch(subject) for r in self.regexes)


# --- one policy's votes ----------------------------------------------------------------------


# What a rule decides follows from what it names: `paths:` only the paths an action touches,
# `hosts:` only the host it reaches, `commands:` only the program a shell part runs; a rule
# naming none of them decides the action itself (the program, a file tool's path, the host).


def _tool_matches(rule: Any, tool: str) -> bool:
    return any(fnmatch.fnmatchcase(tool, g) for g in rule.tools)


def _is_action_rule(rule: Any) -> bool:
    return rule.path_globs is None and rule.command_patterns is None and rule.host_globs is None


def _command_match(rule: Any, part: Part) -> tuple[bool, bool]:
    """(could, must) for a rule's `commands:` against the part's command."""
    if rule.command_patterns is None:
        return True, True
    if part.command is None:
        return False, False
    results = [p.match(part.command) for p in rule.command_patterns]
    return any(c for c, _ in results), any(m for _, m in results)


def _path_match(rule: Any, path: TouchedPath) -> tuple[bool, bool]:
    """(could, must) for a rule's `paths:` against one touched path."""
    if path.unknown is not None:
        could = any(globs_intersect(path.unknown, g.text) for g in rule.path_globs)
        return could, False
    hit = any(g.matches(path) for g in rule.path_globs)
    return hit, hit


def _subject_votes(
    policy: Any, rules: list[tuple[Any, bool, bool]], subject: str, *, default: bool
) -> list[Vote]:
    """Votes on one subject from (rule, could, must) triples: every rule that could match
    votes, an allow only where it must match; the default when no rule must match."""
    votes = [
        Vote(
            r.decision,
            policy.name,
            r.id,
            r.reason or f"{subject} matches rule {r.id} ({r.decision})",
        )
        for r, could, must in rules
        if must or (could and r.decision != Verdict.ALLOW)
    ]
    if default and not any(must for _, _, must in rules):
        votes.append(
            Vote(
                policy.default,
                policy.name,
                "default",
                f"no rule of {policy.name} matches {subject}",
            )
        )
    return votes


def vote_part(policy: Any, tool: str, part: Part) -> list[Vote]:
    """One policy's votes on one part: on the program it runs (or the action itself), on
    every path it touches and on its host, plus denies for paths outside the workspace that
    no rule names, plus the built-in votes. The strictest vote decides."""
    rules = [r for r in policy.compiled_rules() if _tool_matches(r, tool)]
    votes: list[Vote] = []
    file_tool = part.on_path
    if part.host is not None:
        matched = [(r, True, True) for r in rules if _is_action_rule(r)]
        matched += [
            (r, True, True)
            for r in rules
            if r.host_globs is not None
            and r.path_globs is None
            and any(fnmatch.fnmatchcase(part.host, g) for g in r.host_globs)
        ]
        votes += _subject_votes(policy, matched, f"`{part.text}`", default=True)
    elif (
        not file_tool
        and not part.paths_only
        and (part.command is None or part.command.words != ("",))
    ):
        matched = []
        for r in rules:
            if r.path_globs is not None or r.host_globs is not None:
                continue
            could, must = _command_match(r, part)
            if could:
                matched.append((r, could, must))
        votes += _subject_votes(policy, matched, f"`{part.text}`", default=True)
    action_rules = [(r, True, True) for r in rules if file_tool and _is_action_rule(r)]
    for path in part.paths:
        matched = list(action_rules)
        for r in rules:
            if r.path_globs is None:
                continue
            c_could, c_must = _command_match(r, part)
            p_could, p_must = _path_match(r, path)
            if c_could and p_could:
                matched.append((r, True, c_must and p_must))
        what = f"{path.raw.replace(HOLE, '$…')}" + (
            "" if path.raw == part.text else f" (in `{part.text}`)"
        )
        votes += _subject_votes(policy, matched, what, default=file_tool)
        if path.rel is None and path.unknown is None:
            votes += _outside_votes(policy, rules, part, path)
    if part.host is not None and not part.recipe_host:
        problem = literal_address_problem(part.host)
        if problem and not names_host(policy, part.host, []):
            votes.append(
                Vote.builtin(
                    Verdict.DENY,
                    "private-address",
                    f"{problem}; no rule of {policy.name} names it in hosts:",
                )
            )
    if not votes and file_tool:
        votes.append(
            Vote(policy.default, policy.name, "default", f"no rule of {policy.name} matches")
        )
    return votes + part.votes


def _outside_votes(policy: Any, rules: list[Any], part: Part, path: TouchedPath) -> list[Vote]:
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


def _names_path(rule: Any, part: Part, path: TouchedPath) -> bool:
    """Whether a rule names an outside path by an absolute glob (for this command, if it
    names commands too)."""
    if not rule.path_globs or not _command_match(rule, part)[1]:
        return False
    return any(g.absolute and g.matches(path) for g in rule.path_globs)


def names_host(policy: Any, host: str, addresses: list[str]) -> bool:
    """Whether a non-deny rule's `hosts` names this host or one of its addresses exactly."""
    wanted = {host.lower().strip("[]"), *addresses}
    return any(
        r.decision != Verdict.DENY
        and r.host_globs is not None
        and any(g.strip("[]") in wanted for g in r.host_globs)
        for r in policy.compiled_rules()
    )
