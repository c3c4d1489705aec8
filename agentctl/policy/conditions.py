"""Rule conditions: what a rule names (`tools:`, `commands:`, `paths:`, `hosts:`), each kind a
small class that compiles its entries and answers whether the rule applies to one subject of
an action part.

A part has subjects: its host (a URL's, a remote MCP server's), else its program (a shell
command, or the action itself), and every path it touches. What a rule decides follows from
the most specific thing it names (`Names`): a rule with `paths:` decides only the paths an
action touches, with `hosts:` only the host it reaches, with `commands:` only the program a
shell part runs; a rule naming none of them decides the action itself (the program, a file
tool's path, the host). Each condition answers for the subjects it is about with a `Fit`
(could it match, must it match: a word unknown until the command runs could match but need
not), and says nothing (None) about the others. `tools:` is checked once per part, before
any subject. Adding a kind: CONTRIBUTING.md, "Adding a policy rule kind".
"""

from __future__ import annotations

import fnmatch
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar, TypeVar

from agentctl.policy.globs import glob_regex
from agentctl.policy.patterns import CommandPattern, globs_intersect
from agentctl.policy.touches import GLOB_CHARS, Part, TouchedPath
from agentctl.policy.votes import Verdict
from agentctl.tools.builtin import builtins_where
from agentctl.yamlload import FieldError


class Names(IntEnum):
    """The subject a rule decides, from the most specific thing it names (higher wins)."""

    ACTION = 0  # names nothing beyond tools: the program, a file tool's path, the host
    PROGRAM = 1  # commands:
    HOST = 2  # hosts:
    PATH = 3  # paths:


@dataclass(frozen=True)
class Fit:
    """How a condition meets a subject: could some unknown value make it match; must it."""

    could: bool
    must: bool


MATCH = Fit(True, True)
NO_MATCH = Fit(False, False)


def require_tool(rule_tools: Sequence[str], key: str, tools: tuple[str, ...]) -> None:
    """`key:` is about what these built-ins (a command line's, a URL's) reach: the rule's
    `tools:` must include one of them."""
    if not any(fnmatch.fnmatchcase(tool, g) for tool in tools for g in rule_tools):
        tool = " or ".join(tools)
        raise FieldError(
            (key,),
            f"{key}: only applies to the {tool} tool, which tools: does not include",
            f"add {tool} to tools:, or remove {key}:",
            at_key=True,
        )


class Condition(ABC):
    """One kind of rule condition. `key` is the rule's YAML key; `names` the subject a rule
    with this condition decides (unless it names a more specific one too)."""

    key: ClassVar[str]
    names: ClassVar[Names]

    @classmethod
    @abstractmethod
    def compile(cls, values: list[str], tools: Sequence[str]) -> Condition:
        """The condition from the rule's entries under `key` (non-empty strings); a problem
        is a FieldError naming the entry."""

    @abstractmethod
    def fit(self, part: Part, subject: Names, path: TouchedPath | None) -> Fit | None:
        """How this condition meets the part's `subject` (`path` for a PATH subject), or
        None when it is not about that subject."""


@dataclass(frozen=True)
class ToolCondition:
    """`tools:` (globs over tool names, `*` by default): checked once per part."""

    globs: tuple[str, ...]

    def applies(self, tool: str) -> bool:
        return any(fnmatch.fnmatchcase(tool, g) for g in self.globs)


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


@dataclass(frozen=True)
class PathCondition(Condition):
    """`paths:` decides each path a part touches; a path with an unknown part could match
    any glob its known parts allow, but never must."""

    key: ClassVar[str] = "paths"
    names: ClassVar[Names] = Names.PATH
    globs: tuple[PathGlob, ...]

    @classmethod
    def compile(cls, values: list[str], tools: Sequence[str]) -> PathCondition:
        return cls(tuple(PathGlob.compile(p) for p in values))

    def fit(self, part: Part, subject: Names, path: TouchedPath | None) -> Fit | None:
        if subject is not Names.PATH or path is None:
            return None
        if path.unknown is not None:
            unknown = path.unknown
            return Fit(any(globs_intersect(unknown, g.text) for g in self.globs), False)
        return MATCH if any(g.matches(path) for g in self.globs) else NO_MATCH

    def names_outside(self, path: TouchedPath) -> bool:
        """Whether an absolute glob names this path outside the workspace."""
        return any(g.absolute and g.matches(path) for g in self.globs)


@dataclass(frozen=True)
class CommandCondition(Condition):
    """`commands:` (shell only) decides the program a part runs, and with `paths:` the paths
    that program touches; a part that runs no program never matches."""

    key: ClassVar[str] = "commands"
    names: ClassVar[Names] = Names.PROGRAM
    patterns: tuple[CommandPattern, ...]

    @classmethod
    def compile(cls, values: list[str], tools: Sequence[str]) -> CommandCondition:
        require_tool(tools, "commands", builtins_where(lambda spec: spec.touches.command))
        compiled = []
        for i, text in enumerate(values):
            try:
                compiled.append(CommandPattern.compile(text))
            except ValueError as e:
                raise FieldError(
                    ("commands", i),
                    str(e),
                    'write the command\'s words, with a trailing * for "any further arguments"',
                ) from None
        return cls(tuple(compiled))

    def fit(self, part: Part, subject: Names, path: TouchedPath | None) -> Fit | None:
        if subject is Names.HOST:
            return None
        if part.command is None:
            return NO_MATCH
        results = [p.match(part.command) for p in self.patterns]
        return Fit(any(c for c, _ in results), any(m for _, m in results))


@dataclass(frozen=True)
class HostCondition(Condition):
    """`hosts:` (http_get's URL, or a remote MCP server's host) decides the host a part
    reaches."""

    key: ClassVar[str] = "hosts"
    names: ClassVar[Names] = Names.HOST
    globs: tuple[str, ...]

    @classmethod
    def compile(cls, values: list[str], tools: Sequence[str]) -> HostCondition:
        if not any("." in g for g in tools):  # SERVER.TOOL: an MCP tool, whose server's host
            require_tool(tools, "hosts", builtins_where(lambda spec: spec.touches.url))
        for i, host in enumerate(values):
            if "/" in host or host.count(":") == 1:
                raise FieldError(
                    ("hosts", i),
                    f'"{host}" is not a host name',
                    "write only the host, e.g. api.github.com or *.python.org",
                )
        return cls(tuple(h.strip().lower().rstrip(".") for h in values))

    def fit(self, part: Part, subject: Names, path: TouchedPath | None) -> Fit | None:
        if subject is not Names.HOST or part.host is None:
            return None
        host = part.host
        return MATCH if any(fnmatch.fnmatchcase(host, g) for g in self.globs) else NO_MATCH

    def names_exactly(self, wanted: set[str]) -> bool:
        """Whether an entry is one of these hosts or addresses, written out (no glob)."""
        return any(g.strip("[]") in wanted for g in self.globs)


# Every kind of condition a rule may have, in the order their keys are compiled and checked.
CONDITION_KINDS: tuple[type[Condition], ...] = (PathCondition, CommandCondition, HostCondition)
C = TypeVar("C", bound=Condition)


@dataclass(frozen=True)
class CompiledRule:
    """A rule as matching reads it: its tools, its conditions and the subject it decides."""

    id: str
    decision: Verdict
    reason: str | None
    tools: ToolCondition
    conditions: tuple[Condition, ...]
    names: Names = field(init=False)

    def __post_init__(self) -> None:
        names = max((c.names for c in self.conditions), default=Names.ACTION)
        object.__setattr__(self, "names", names)

    def condition(self, kind: type[C]) -> C | None:
        """The rule's condition of this kind, if it has one."""
        return next((c for c in self.conditions if isinstance(c, kind)), None)

    def fit(self, part: Part, subject: Names, path: TouchedPath | None) -> Fit:
        """How every condition together meets the subject: could all of them match, must
        all of them."""
        must = True
        for condition in self.conditions:
            fit = condition.fit(part, subject, path)
            if fit is not None:
                if not fit.could:
                    return NO_MATCH
                must = must and fit.must
        return MATCH if must else Fit(True, False)


def compile_conditions(
    values: dict[str, list[str] | None], tools: Sequence[str]
) -> tuple[Condition, ...]:
    """A rule's conditions from its keys (None: the key is not there)."""
    return tuple(
        kind.compile(entries, tools)
        for kind in CONDITION_KINDS
        if (entries := values.get(kind.key)) is not None
    )


__all__ = [
    "CONDITION_KINDS",
    "CommandCondition",
    "CompiledRule",
    "Condition",
    "Fit",
    "HostCondition",
    "Names",
    "PathCondition",
    "PathGlob",
    "ToolCondition",
    "compile_conditions",
]
