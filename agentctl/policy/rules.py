"""Policy v1: the schema, loading a policy file, combining policies, and deciding actions.

Owns the pydantic models (extra keys are errors, like recipes), `load_policy` (errors name
file:line:column), the built-in DEFAULT_POLICY used when no policy is given, `PolicySet`
(the recipe's policy plus every --policy: the strictest decision wins, the smallest limits,
the strictest sandbox) and its `decide(tool, args)` and `decide_write(tool, path)` (an
observed change, for `agentctl.policy.effects`). How an action is split into parts lives in
`agentctl.policy.touches`, how a part is matched against rules in `agentctl.policy.match`;
shell parsing in `agentctl.policy.shellwords`; http_get's address check in
`agentctl.policy.urls`; a policy's own `tests:` in `agentctl.policy.selftest`.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import re
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from agentctl.errors import RecipeError
from agentctl.fieldtypes import Duration, PosFloat, PosInt
from agentctl.policy.addresses import db_file_set
from agentctl.policy.conditions import (
    CONDITION_KINDS,
    CompiledRule,
    ToolCondition,
    compile_conditions,
)
from agentctl.policy.match import vote_part, writes_denied
from agentctl.policy.touches import Part, build_parts, write_parts
from agentctl.policy.votes import Decision, Verdict, Vote, strictest
from agentctl.tools.base import Touches
from agentctl.yamlcheck import validate_every_problem
from agentctl.yamlload import (
    FieldError,
    Positions,
    load_yaml,
    read_text_file,
)

_STRICT = ConfigDict(extra="forbid")
_RULE_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
# A verdict in a policy file: the enum, shown in the JSON Schema as the three words inline.
VerdictField = Annotated[
    Verdict, WithJsonSchema({"enum": [str(v) for v in Verdict], "type": "string"})
]
SANDBOX_STRICTNESS = {"off": 0, "preferred": 1, "required": 2}

DEFAULT_POLICY = """\
# The policy agentctl uses when neither the recipe (`policy:`) nor `--policy` gives one.
# It exists so that recipes written before policies keep running: every action inside the
# workspace is allowed, and shell tools may use the network. What no policy can switch off
# still holds here: paths outside the workspace are denied; .env files, private keys and
# agentctl's own database are denied; writing .git/config or .git/hooks, writing a file with
# other hard links, and shell commands the parser cannot prove harmless ($(...), eval,
# bash -c, an unknown command name, unparseable text) are asked;
# http_get refuses loopback, private and link-local (cloud metadata) addresses.
version: 1
name: default
default: allow
sandbox: preferred
network: true
"""


class Rule(BaseModel):
    model_config = _STRICT
    id: str
    tools: list[str] = ["*"]
    paths: list[str] | None = None
    commands: list[str] | None = None
    hosts: list[str] | None = None
    decision: Annotated[VerdictField, Field(title="Decision")]
    reason: str | None = None
    _check: CompiledRule | None = PrivateAttr(default=None)

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not _RULE_ID.match(value):
            raise ValueError(f'rule id "{value}" must use letters, digits, _, - and .')
        if value == "default":
            raise ValueError('"default" names the policy\'s default decision; pick another id')
        return value

    @model_validator(mode="after")
    def _compile(self) -> Rule:
        for key in ("tools", *(kind.key for kind in CONDITION_KINDS)):
            values = getattr(self, key)
            if values is not None and not values:
                raise FieldError(
                    (key,),
                    f"an empty {key}: list matches nothing",
                    f"remove `{key}:` or list at least one entry",
                )
            for i, value in enumerate(values or []):
                if not isinstance(value, str) or not value.strip():
                    raise FieldError((key, i), f"{key} entries must be non-empty strings")
        keys = {kind.key: getattr(self, kind.key) for kind in CONDITION_KINDS}
        conditions = compile_conditions(keys, self.tools)
        tools = ToolCondition(tuple(self.tools))
        self._check = CompiledRule(self.id, self.decision, self.reason, tools, conditions)
        return self

    @property
    def check(self) -> CompiledRule:
        """The rule as matching reads it (compiled when the rule was validated)."""
        if self._check is None:  # a rule built without validation (model_construct)
            raise ValueError(f"rule {self.id} was not validated")
        return self._check


class PolicyLimits(BaseModel):
    model_config = _STRICT
    max_cost_usd: PosFloat | None = None
    max_turns: PosInt | None = None
    max_tool_calls: PosInt | None = None
    max_repeats: PosInt | None = None
    timeout: Duration = None
    tool_timeout: Duration = None


class ApprovalSettings(BaseModel):
    model_config = _STRICT
    expires_after: Duration = None


class Symlink(BaseModel):
    model_config = _STRICT
    symlink: str = Field(min_length=1)


class PolicyTest(BaseModel):
    model_config = _STRICT
    tool: str = Field(min_length=1)
    args: dict[str, Any] = {}
    expect: Annotated[VerdictField, Field(title="Expect")]
    workspace_files: dict[str, str | Symlink] = {}

    @field_validator("workspace_files")
    @classmethod
    def _inside(cls, files: dict[str, str | Symlink]) -> dict[str, str | Symlink]:
        for name in files:
            parts = Path(name).parts
            if not name or os.path.isabs(name) or ".." in parts or name.startswith("~"):
                raise FieldError(
                    (name,),
                    f'workspace file "{name}" must be a relative path inside the test workspace',
                    "use a path like src/app.py",
                    at_key=True,
                )
        return files


def _sandbox_off(value: object) -> object:
    # YAML 1.1 reads a bare `off` as false; `sandbox: off` is what the user meant.
    return "off" if value is False else value


class Policy(BaseModel):
    model_config = _STRICT
    version: Literal[1]
    name: str = Field(min_length=1)
    description: str = ""
    default: Annotated[VerdictField, Field(title="Default")] = Verdict.ASK
    rules: list[Rule] = []
    limits: PolicyLimits = PolicyLimits()
    sandbox: Annotated[Literal["required", "preferred", "off"], BeforeValidator(_sandbox_off)] = (
        "preferred"
    )
    network: StrictBool = False
    redact: list[str] = []
    # Tools (globs, e.g. git.git_status) this policy declares read-only: an MCP server's own
    # annotations are never trusted, so only a recipe or a policy can say so.
    read_only: list[Annotated[str, Field(min_length=1)]] = []
    approvals: ApprovalSettings = ApprovalSettings()
    tests: list[PolicyTest] = []
    _file: str = PrivateAttr(default="<policy>")
    _positions: Positions | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _cross_check(self) -> Policy:
        seen: dict[str, int] = {}
        for i, rule in enumerate(self.rules):
            if rule.id in seen:
                raise FieldError(
                    ("rules", i, "id"),
                    f'duplicate rule id "{rule.id}" (also rules[{seen[rule.id]}])',
                    "give each rule its own id",
                )
            seen[rule.id] = i
        for i, pattern in enumerate(self.redact):
            try:
                compiled = re.compile(pattern)
            except re.error as e:
                raise FieldError(
                    ("redact", i),
                    f"redact pattern is not a valid regex: {e}",
                    "use Python regex syntax; quote the pattern in YAML",
                ) from None
            if compiled.search(""):
                raise FieldError(
                    ("redact", i),
                    "redact pattern matches the empty string",
                    "make it match at least one character, e.g. + instead of *",
                )
        return self

    @functools.cached_property
    def rule_checks(self) -> list[CompiledRule]:
        """The rules as matching reads them; computed once, as every decision reads them."""
        return [rule.check for rule in self.rules]

    @property
    def file(self) -> str:
        return self._file

    def test_position(self, index: int) -> tuple[int | None, int | None]:
        mark = self._positions.value(("tests", index)) if self._positions else None
        return (mark.line, mark.column) if mark else (None, None)


def is_policy_data(data: object) -> bool:
    """Whether loaded YAML is a policy rather than a recipe (`rules`/`default`, no steps)."""
    return (
        isinstance(data, dict)
        and ("rules" in data or "default" in data)
        and "steps" not in data
        and "instructions" not in data
    )


def load_policy_text(text: str, filename: str) -> Policy:
    """Parse and validate policy text; `filename` labels errors."""
    data, positions = load_yaml(text, filename)
    if not isinstance(data, dict):
        mark = positions.value(())
        raise RecipeError(
            "a policy's top level must be a mapping (version:, name:, rules: ...)",
            "start the file with `version: 1`",
            file=filename,
            line=mark.line if mark else 1,
            column=mark.column if mark else 1,
        )
    policy = validate_every_problem(Policy, data, positions, filename)
    policy._file, policy._positions = filename, positions
    return policy


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """Read and validate a policy file; any problem is a RecipeError (exit 2)."""
    p = Path(path)
    text = read_text_file(p, "policy")
    return load_policy_text(text, str(p))


@functools.lru_cache(maxsize=1)
def default_policy() -> Policy:
    """DEFAULT_POLICY, parsed (see its text for what it allows)."""
    return load_policy_text(DEFAULT_POLICY, "<default policy>")


# --- deciding ----------------------------------------------------------------------------------


# A policy set remembers this many resolved (workspace, database) pairs; a job has one, a
# policy's own `tests:` one per test folder.
MAX_PLACES = 16


def _unique(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(items))


class PolicySet:
    """The policies in force for a job: each decides every action, and the strictest wins.

    With no policy at all, DEFAULT_POLICY is used (`is_default` is then True)."""

    def __init__(self, policies: Sequence[Policy] = ()):
        self.is_default = not policies
        self.policies: list[Policy] = list(policies) or [default_policy()]
        # The workspace and database resolved once per set (a job builds one set): they are
        # the job's fixed places, so each action resolves only its own paths (issue 14).
        self._places: dict[tuple[str, ...], tuple[str, frozenset[str]]] = {}

    @classmethod
    def from_files(cls, paths: Sequence[str | os.PathLike[str]]) -> PolicySet:
        return cls([load_policy(p) for p in paths])

    def decide(
        self,
        tool: str,
        args: dict[str, Any],
        *,
        workspace: Path,
        db_path: Path | None = None,
        touches: Touches | None = None,
        host: str | None = None,
        written: AbstractSet[str] = frozenset(),
    ) -> Decision:
        """The decision for one action, the rules that voted, and why. `touches` is what the
        tool's spec says it reaches (a built-in's is looked up by name when not given);
        `host` a host it reaches that the recipe named (a remote MCP server's); `written`
        the workspace files this job wrote (running one is asked)."""
        root, db_files = self._resolve_places(workspace, db_path)
        parts = build_parts(tool, dict(args or {}), root, db_files, touches, host, written)
        return self._decide_parts(tool, parts)

    def decide_write(
        self, tool: str, rel: str, *, workspace: Path, db_path: Path | None
    ) -> Decision:
        """The decision on an observed change of the workspace path `rel` by a `tool` action:
        as a write_file of it, and by the tool's own `paths:` rules (`agentctl.policy.effects`)."""
        root, db_files = self._resolve_places(workspace, db_path)
        return self._decide_parts(tool, write_parts(tool, rel, root, db_files))

    @property
    def allows_no_writes(self) -> bool:
        """Whether no write of a workspace path can be allowed or approved: some policy
        denies by default and none of its rules for write_file or edit_file may say
        otherwise for a workspace path (the shipped `read-only` is such a policy). The
        sandbox then mounts the workspace read-only."""
        return any(writes_denied(p) for p in self.policies)

    def _decide_parts(self, tool: str, parts: list[Part]) -> Decision:
        votes = [
            v
            for part in parts
            for policy in self.policies
            for v in vote_part(policy, part.tool or tool, part)
        ]
        final = strictest(v.decision for v in votes)
        merged: dict[tuple[str, Verdict], Vote] = {}
        for v in votes:
            # One vote per rule and decision; its reasons joined, the first ones first.
            key = (v.label, v.decision)
            known = merged.get(key)
            if known is None:
                merged[key] = v
            elif v.reason not in known.reason.split("; "):
                merged[key] = replace(known, reason=known.reason + "; " + v.reason)
        reason = "; ".join(_unique([v.reason for v in votes if v.decision == final]))
        return Decision(final, reason, tuple(merged.values()))

    def _resolve_places(
        self, workspace: str | os.PathLike[str], db_path: Path | None
    ) -> tuple[str, frozenset[str]]:
        """The resolved workspace and the database's files, kept per (workspace, database)
        as given (and the working folder, for a relative one)."""
        given = (os.fspath(workspace), "" if db_path is None else os.fspath(db_path))
        key = given if all(os.path.isabs(p) for p in given if p) else (*given, os.getcwd())
        places = self._places.get(key)
        if places is None:
            if len(self._places) >= MAX_PLACES:
                self._places.clear()
            places = (os.path.realpath(workspace), frozenset(db_file_set(db_path)))
            self._places[key] = places
        return places

    @property
    def limits(self) -> PolicyLimits:
        """The smallest of each limit any policy sets."""
        merged: dict[str, float] = {}  # every limit is a number (durations in seconds)
        for policy in self.policies:
            for key, value in policy.limits.model_dump().items():
                if value is not None:
                    merged[key] = value if merged.get(key) is None else min(merged[key], value)
        return PolicyLimits.model_construct(set(merged), **merged)

    @property
    def sandbox(self) -> str:
        return max((p.sandbox for p in self.policies), key=SANDBOX_STRICTNESS.__getitem__)

    @property
    def network(self) -> bool:
        return all(p.network for p in self.policies)

    @property
    def redact(self) -> list[str]:
        return _unique([pattern for p in self.policies for pattern in p.redact])

    def declares_read_only(self, tool: str) -> bool:
        """Whether any policy lists `tool` under `read_only:`."""
        return any(fnmatch.fnmatchcase(tool, g) for p in self.policies for g in p.read_only)

    @property
    def approval_expires_after(self) -> float | None:
        values = [
            p.approvals.expires_after
            for p in self.policies
            if p.approvals.expires_after is not None
        ]
        return min(values) if values else None


__all__ = [
    "DEFAULT_POLICY",
    "ApprovalSettings",
    "Policy",
    "PolicyLimits",
    "PolicySet",
    "PolicyTest",
    "Rule",
    "default_policy",
    "is_policy_data",
    "load_policy",
    "load_policy_text",
]
