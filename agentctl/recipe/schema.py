"""Recipe v1: the schema, loading a recipe file, `-p KEY=VALUE` params and Jinja templates.

Owns the pydantic models the engine runs (Recipe, Step, AgentSpec, ...), the one-agent shorthand
(top-level `instructions:` becomes a single step with id "agent"), load-time checks that every
template parses and only names declared params, earlier steps and listed env vars, and the
sandboxed renderer. YAML parsing and error positions live in `agentctl.yamlload`.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    Tag,
    field_validator,
    model_validator,
)

from agentctl.errors import RecipeError, UsageError, suggest
from agentctl.fieldtypes import ByteSize, Duration, NonNegFloat, PosFloat, PosInt
from agentctl.recipe.templates import IDENT, check_template
from agentctl.tools.builtin import BUILTIN_TOOLS, OPTIONAL_TOOLS
from agentctl.yamlcheck import validate_every_problem
from agentctl.yamlload import FieldError, FieldErrors, load_yaml, read_text_file

# The kinds of step, each a field of Step holding its settings; the engine runs each through
# its executor (agentctl.engine.steps.EXECUTORS).
STEP_KINDS = ("run", "agent", "approval")
STEP_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Top-level keys of the one-agent shorthand -> the AgentSpec field each one fills.
SHORTHAND = {
    "instructions": "instructions",
    "prompt": "prompt",
    "model": "model",
    "agent_tools": "tools",
}


_STRICT = ConfigDict(extra="forbid")


class ParamSpec(BaseModel):
    model_config = _STRICT
    type: Literal["string", "integer", "number", "boolean"] = "string"
    required: StrictBool = False
    default: Any = None
    description: str = ""

    @model_validator(mode="after")
    def _default_matches_type(self) -> ParamSpec:
        if self.default is None:
            return self
        if self.required:
            raise FieldError(
                ("default",),
                "a required param cannot have a default",
                "drop `required: true` or the default",
                at_key=True,
            )
        ok = {
            "string": isinstance(self.default, str),
            "integer": isinstance(self.default, int) and not isinstance(self.default, bool),
            "number": isinstance(self.default, (int, float)) and not isinstance(self.default, bool),
            "boolean": isinstance(self.default, bool),
        }[self.type]
        if not ok:
            raise FieldError(
                ("default",),
                f"default {self.default!r} is not of type {self.type}",
                f"give a default of type {self.type}, or change `type:`",
            )
        if self.type == "number":
            self.default = float(self.default)
        return self


class LocalServerOptions(BaseModel):
    """A `local/` model's server (agentctl.models.local): threads, context tokens per
    request, parallel request slots. Unset: chosen for the machine and the model."""

    model_config = _STRICT
    threads: PosInt | None = None
    context: PosInt | None = None
    parallel: PosInt | None = None


class FallbackModel(BaseModel):
    """A fallback written out in place (issue 22): its own endpoint and key."""

    model_config = _STRICT
    model: str = Field(min_length=1)
    api_base: str | None = None
    api_key_env: str | None = None


def _fallback_form(value: Any) -> str:
    return "<inline>" if isinstance(value, Mapping) else "<name>"


# A role name or model string, or an inline model; a mapping is only ever read as the latter,
# so its errors name its own keys (error paths leave out the `<tags>`: yamlload.error_path).
Fallback = Annotated[
    Annotated[str, Tag("<name>")] | Annotated[FallbackModel, Tag("<inline>")],
    Discriminator(_fallback_form),
]


class ModelRole(BaseModel):
    model_config = _STRICT
    # `model:` or `path:` (a GGUF file, relative to the recipe's folder: `local/PATH`).
    model: str = ""
    path: str | None = Field(default=None, min_length=1)
    local: LocalServerOptions | None = None
    # `text`: tool calls the model writes as text become real ones (default for local/);
    # `user`: tool results are sent as user messages (default for local/ models whose chat
    # template shows no `tool` messages). See agentctl.models.textcalls.
    tool_calls: Literal["native", "text"] | None = None
    tool_results: Literal["tool", "user"] | None = None
    fallbacks: list[Fallback] = []
    temperature: NonNegFloat | None = None
    max_tokens: PosInt | None = None
    api_base: str | None = None
    api_key_env: str | None = None
    options: dict[str, Any] = {}
    input_cost_per_token: NonNegFloat | None = None
    output_cost_per_token: NonNegFloat | None = None
    max_cost_usd: PosFloat | None = None
    # Issue 22's time and routing settings, kept together.
    timeout: Duration = None  # one request (default 120 s); the job's limits.timeout caps it
    cooldown: Duration = None  # a model that failed is skipped this long (default 60 s)

    @model_validator(mode="after")
    def _model_or_path(self) -> ModelRole:
        if self.path is not None and self.model:
            raise FieldError(
                ("path",),
                "a role names its model once: model: or path:",
                "keep path: for a GGUF file (it runs as local/PATH), or model: for the rest",
            )
        if self.path is None and not self.model:
            raise FieldError(
                ("model",),
                "a model role needs model: (e.g. openai/gpt-4.1-mini) or path: (a GGUF file)",
                "add model: or path:",
            )
        return self


class RecipeLimits(BaseModel):
    """A recipe's `limits:`. A policy's `limits:` (PolicyLimits) may tighten them; what is in
    force for a job is `agentctl.engine.limits.JobLimits`."""

    model_config = _STRICT
    max_turns: PosInt | None = None
    max_cost_usd: PosFloat | None = None
    max_tool_calls: PosInt | None = None
    max_repeats: PosInt | None = None  # identical actions in one step (default 3)
    timeout: Duration = None


class CustomTool(BaseModel):
    model_config = _STRICT
    description: str = ""
    command: str = Field(min_length=1)
    params: dict[str, ParamSpec] = {}
    read_only: StrictBool = False
    idempotent: StrictBool = False  # running it twice does no more than once
    timeout: Duration = None

    @model_validator(mode="after")
    def _placeholders_declared(self) -> CustomTool:
        for name in self.params:
            if not IDENT.match(name):
                raise FieldError(
                    ("params", name),
                    f'param name "{name}" is not an identifier',
                    "use letters, digits and _",
                    at_key=True,
                )
        for name in PLACEHOLDER.findall(self.command):
            if name not in self.params:
                declared = ", ".join(self.params) or "none"
                raise FieldError(
                    ("command",),
                    f"placeholder {{{name}}} is not a declared param; params: {declared}",
                    f"declare it under params: {name}: {{type: string}}",
                )
        return self


MCP_SERVER_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
# `{{ env.NAME }}` is the only template a header value may hold.
HEADER_ENV = re.compile(r"\{\{\s*env\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class McpServer(BaseModel):
    """One MCP server: a command over stdio, or a streamable HTTP `url` (with `headers`)."""

    model_config = _STRICT
    command: list[Annotated[str, Field(min_length=1)]] | str | None = None
    env: list[str] = []  # environment names passed to the server (stdio) or its headers
    url: str | None = None
    headers: dict[str, str] = {}
    timeout: Duration = None  # per call (and for starting); else the tool timeout
    read_only: list[Annotated[str, Field(min_length=1)]] = []  # tool names (globs), trusted

    @model_validator(mode="after")
    def _one_transport(self) -> McpServer:
        if (self.command is None) == (self.url is None):
            raise FieldError(
                (),
                "an MCP server needs exactly one of command: (stdio) or url: (streamable HTTP)",
                "e.g. command: [uvx, mcp-server-git] or url: https://mcp.example.com/mcp",
            )
        if isinstance(self.command, str):
            try:
                words = shlex.split(self.command)
            except ValueError as e:
                raise FieldError(("command",), f"command cannot be split into words: {e}") from None
            if not words:
                raise FieldError(("command",), "command is empty", "name the server program")
        elif self.command is not None and not self.command:
            raise FieldError(("command",), "command is empty", "name the server program")
        if self.url is not None:
            scheme = self.url.split("://", 1)[0].lower() if "://" in self.url else ""
            if scheme not in ("http", "https"):
                raise FieldError(("url",), f"url must be http(s)://...; got {self.url!r}")
        elif self.headers:
            raise FieldError(
                ("headers",), "headers: only apply to a url: server", "remove headers:", at_key=True
            )
        for i, name in enumerate(self.env):
            if not IDENT.match(name):
                raise FieldError(("env", i), f'"{name}" is not an environment variable name')
        for key, value in self.headers.items():
            for name in HEADER_ENV.findall(value):
                if name not in self.env:
                    raise FieldError(
                        ("headers", key),
                        f"header {key} uses env.{name}, which this server's env: does not list",
                        f"add {name} to the server's env: list",
                    )
            if "{{" in HEADER_ENV.sub("", value) or "{%" in value:
                raise FieldError(
                    ("headers", key),
                    "a header value may only use {{ env.NAME }} templates",
                    'e.g. Authorization: "Bearer {{ env.DOCS_TOKEN }}"',
                )
        return self

    def argv(self) -> list[str]:
        """The stdio command as words."""
        if isinstance(self.command, str):
            return shlex.split(self.command)
        return list(self.command or [])


class AgentSpec(BaseModel):
    model_config = _STRICT
    model: str = "default"
    instructions: str = Field(min_length=1)
    prompt: str | None = None
    tools: list[str] | None = None  # None: every built-in and every custom tool
    max_turns: PosInt | None = None
    max_tool_calls: PosInt | None = None


class CheckSpec(BaseModel):
    model_config = _STRICT
    run: str = Field(min_length=1)
    attempts: PosInt = 3


class Step(BaseModel):
    model_config = _STRICT
    id: str
    run: str | None = None
    agent: AgentSpec | None = None
    approval: str | None = None
    check: CheckSpec | None = None
    timeout: Duration = None
    idempotent: StrictBool = False  # a run: step whose second run does no more than its first

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not STEP_ID.match(value):
            raise ValueError(
                f'step id "{value}" must start with a letter or _ and use only '
                "letters, digits, _ and -"
            )
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Step:
        kinds = [k for k in STEP_KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            where = (kinds[1],) if kinds else ()
            said = " and ".join(kinds) if kinds else "none of them"
            raise FieldError(
                where,
                f"a step needs exactly one of {', '.join(STEP_KINDS)}; this one has {said}",
                "split it into separate steps",
                at_key=bool(kinds),
            )
        if self.idempotent and self.run is None:
            raise FieldError(
                ("idempotent",),
                "only a run: step can be idempotent",
                "remove idempotent:, or declare it on a custom tool (tools: NAME: idempotent:)",
                at_key=True,
            )
        if self.check is not None and self.agent is None:
            raise FieldError(
                ("check",),
                "only an agent step can have a check",
                "to test a run step, add another run step after it",
                at_key=True,
            )
        return self

    @property
    def kind(self) -> str:
        """The step's kind: the one of STEP_KINDS it sets (its executor: engine/steps)."""
        return next(k for k in STEP_KINDS if getattr(self, k) is not None)


class ChangesSpec(BaseModel):
    """How file changes are tracked for diff and rollback."""

    model_config = _STRICT
    exclude: list[Annotated[str, Field(min_length=1)]] = []  # globs, as in .gitignore
    max_file_size: ByteSize = 1_000_000  # larger files are named as changed, not kept
    # Snapshots skip what the workspace's .gitignore files ignore (caches always).
    gitignore: bool = True


class WorkspaceSource(BaseModel):
    """`workspace: {git: URL, ref: REV}`: each run clones its own workspace."""

    model_config = _STRICT
    git: str = Field(min_length=1)
    ref: str | None = None


class Recipe(BaseModel):
    model_config = _STRICT
    version: Literal[1]
    name: str
    description: str = ""
    params: dict[str, ParamSpec] = {}
    models: dict[str, ModelRole] = {}
    policy: str | None = Field(default=None, min_length=1)
    limits: RecipeLimits = RecipeLimits()
    env: list[str] = []
    tools: dict[str, CustomTool] = {}
    mcp: dict[str, McpServer] = {}  # MCP servers; their tools are SERVER.TOOL
    steps: list[Step]
    changes: ChangesSpec = ChangesSpec()
    workspace: WorkspaceSource | None = None  # else --workspace, else the current folder
    on_failure: Literal["rollback"] | None = None  # undo the job's file changes if it fails
    # The one-agent shorthand; moved into `steps` before validation, so always None here.
    instructions: str | None = Field(default=None, exclude=True)
    prompt: str | None = Field(default=None, exclude=True)
    model: str | None = Field(default=None, exclude=True)
    agent_tools: list[str] | None = Field(default=None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _normalise_shorthand(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        present = [k for k in data if k in SHORTHAND]
        if "steps" in data:
            if present:
                raise FieldError(
                    (present[0],),
                    "this belongs to the one-agent shorthand and cannot be used with steps:",
                    "move it into a step's agent: block, or drop steps:",
                    at_key=True,
                )
            return data
        if "instructions" not in data:
            if present:
                raise FieldError(
                    (present[0],),
                    "this needs instructions: (the one-agent shorthand)",
                    "add instructions:",
                    at_key=True,
                )
            raise FieldError(
                (),
                "a recipe needs steps: (or instructions: for one agent step)",
                "add a steps: list",
            )
        data = dict(data)
        data["steps"] = [{"id": "agent", "agent": {SHORTHAND[k]: data.pop(k) for k in present}}]
        return data

    @field_validator("tools", mode="before")
    @classmethod
    def _tools_declared(cls, value: Any) -> Any:
        if isinstance(value, list):
            raise FieldError(
                (),
                "top-level tools: declares custom tools (a mapping of name: {command: ...}); "
                "a list of tool names belongs to an agent",
                "write the list in the step as `agent: {tools: [...]}` (or drop steps: and "
                "use the one-agent form: instructions: plus tools: [...])",
            )
        return value

    @field_validator("name")
    @classmethod
    def _name_given(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("name must not be empty")
        return value

    @field_validator("env")
    @classmethod
    def _env_names(cls, names: list[str]) -> list[str]:
        for i, name in enumerate(names):
            if not IDENT.match(name):
                raise FieldError(
                    (i,),
                    f'"{name}" is not an environment variable name',
                    "use letters, digits and _, not starting with a digit",
                )
        return names

    @model_validator(mode="after")
    def _cross_check(self) -> Recipe:
        # Every problem is collected (validate reports them all), in one pass over the steps.
        problems: list[FieldError] = []
        for name in self.params:
            if not IDENT.match(name):
                problems.append(
                    FieldError(
                        ("params", name),
                        f'param name "{name}" is not an identifier',
                        "use letters, digits and _ so templates can say {{ params.NAME }}",
                        at_key=True,
                    )
                )
        for name in self.tools:
            if not IDENT.match(name) or name in BUILTIN_TOOLS + OPTIONAL_TOOLS:
                why = (
                    "is a built-in tool"
                    if name in BUILTIN_TOOLS + OPTIONAL_TOOLS
                    else "is not an identifier"
                )
                problems.append(
                    FieldError(
                        ("tools", name),
                        f'custom tool name "{name}" {why}',
                        "pick another name (letters, digits, _)",
                        at_key=True,
                    )
                )
        for name in self.mcp:
            if not MCP_SERVER_NAME.match(name):
                raise FieldError(
                    ("mcp", name),
                    f'MCP server name "{name}" must match [a-z][a-z0-9_-]*',
                    "use lower-case letters, digits, _ and -, starting with a letter",
                    at_key=True,
                )
        if not self.steps:
            problems.append(
                FieldError(("steps",), "a recipe needs at least one step", "add a step")
            )
        ids = {step.id for step in self.steps}
        earlier: dict[str, int] = {}  # step id -> index, in order: the steps before this one
        for i, step in enumerate(self.steps):
            at = ("steps", i)
            try:
                if step.id in earlier:
                    raise FieldError(
                        at + ("id",),
                        f'duplicate step id "{step.id}" (also used by steps[{earlier[step.id]}])',
                        "give each step its own id",
                    )
                if step.agent is not None:
                    self._check_agent(step.agent, at + ("agent",))
            except FieldError as problem:
                problems.append(problem)
            except FieldErrors as several:
                problems.extend(several.errors)
            for field, source in template_fields(step):
                try:
                    check_template(
                        source,
                        at + tuple(field.split(".")),
                        params=self.params,
                        env=self.env,
                        step_ids=ids,
                        earlier=earlier,
                        also=step.id if field == "check.run" else None,
                    )
                except FieldError as problem:
                    problems.append(problem)
            earlier.setdefault(step.id, i)
        if len(problems) == 1:
            raise problems[0]
        if problems:
            raise FieldErrors(problems)
        return self

    def _check_agent(self, agent: AgentSpec, at: tuple) -> None:
        if agent.model != "default" and agent.model not in self.models:
            roles = ", ".join(self.models) or "none declared"
            raise FieldError(
                at + ("model",),
                f'unknown model role "{agent.model}"; roles: {roles}',
                suggest(agent.model, self.models)
                or "declare it under models: or use a listed role",
            )
        known = list(BUILTIN_TOOLS) + list(OPTIONAL_TOOLS) + list(self.tools)
        problems: list[FieldError] = []  # every unknown name of the list, not the first
        for j, tool in enumerate(agent.tools or []):
            server, dot, rest = tool.partition(".")
            if dot and rest:
                if server not in self.mcp:
                    problems.append(
                        FieldError(
                            at + ("tools", j),
                            f'"{tool}" names MCP server "{server}", which mcp: does not '
                            "declare; declared: " + (", ".join(self.mcp) or "none"),
                            suggest(server, self.mcp)
                            or f"declare it under mcp: {server}: {{command: ...}} or fix the name",
                        )
                    )
                continue
            if tool not in known:
                problems.append(
                    FieldError(
                        at + ("tools", j),
                        f'unknown tool "{tool}"; known: ' + ", ".join(known),
                        suggest(tool, known) or "use a built-in tool or declare it under tools:",
                    )
                )
        if len(problems) == 1:
            raise problems[0]
        if problems:
            raise FieldErrors(problems)

    def mcp_servers_for(self, agent: AgentSpec) -> list[str]:
        """The MCP servers an agent step's `tools:` names (`git.git_status`, `git.*`)."""
        names = [t.partition(".")[0] for t in agent.tools or [] if "." in t]
        return [n for n in dict.fromkeys(names) if n in self.mcp]

    def tools_for(self, agent: AgentSpec) -> list[str]:
        """The tool names an agent step may call (its list, else every built-in and custom)."""
        return list(agent.tools) if agent.tools is not None else [*BUILTIN_TOOLS, *self.tools]


def template_fields(step: Step) -> list[tuple[str, str]]:
    """(dotted field inside the step, template source) for every templated field of a step."""
    out = [("run", step.run), ("approval", step.approval)]
    if step.agent is not None:
        out += [
            ("agent.instructions", step.agent.instructions),
            ("agent.prompt", step.agent.prompt),
        ]
    if step.check is not None:
        out.append(("check.run", step.check.run))
    return [(f, s) for f, s in out if s is not None]


# --- loading ------------------------------------------------------------------------------


@dataclass
class LoadedRecipe:
    recipe: Recipe
    path: Path | None
    text: str
    base_dir: Path

    def policy_path(self) -> Path | None:
        """The recipe's `policy:` resolved against its folder (existence is not checked)."""
        if self.recipe.policy is None:
            return None
        policy = Path(self.recipe.policy).expanduser()
        return policy if policy.is_absolute() else Path(os.path.normpath(self.base_dir / policy))


def _source_path(shorthand: bool, tools_key: str, loc: tuple) -> tuple:
    """Where a model path was written: the shorthand's synthetic step maps back to the top
    (its tool list from `tools_key`: `agent_tools:`, or `tools:` when written as a list)."""
    if loc[:1] == ("agent_tools",):
        return (tools_key,) + loc[1:]
    if not shorthand or loc[:1] != ("steps",):
        return loc
    if len(loc) >= 4 and loc[1] == 0 and loc[2] == "agent":
        raw = {v: k for k, v in SHORTHAND.items()}.get(loc[3], loc[3])
        return ((tools_key if raw == "agent_tools" else raw),) + loc[4:]
    return ("instructions",)


def _listed_tools_key(data: dict[str, Any]) -> str:
    """`tools: [read_file, ...]` in a recipe without steps: is the agent's tool list (what
    people write first); the key it was read from, so errors point at what they wrote."""
    if "steps" in data or "agent_tools" in data or not isinstance(data.get("tools"), list):
        return "agent_tools"
    data["agent_tools"] = data.pop("tools")
    return "tools"


def load_recipe_text(text: str, filename: str, base_dir: Path | None = None) -> LoadedRecipe:
    """Parse and validate recipe text; `filename` labels errors, `base_dir` anchors `policy:`."""
    data, positions = load_yaml(text, filename)
    if not isinstance(data, dict):
        mark = positions.value(())
        got = "a list" if isinstance(data, list) else f"{type(data).__name__} {data!r}"
        raise RecipeError(
            f"the top level must be a mapping (version:, name:, steps: ...), not {got}",
            "start the file with `version: 1`",
            file=filename,
            line=mark.line if mark else 1,
            column=mark.column if mark else 1,
        )
    data = dict(data)
    tools_key = _listed_tools_key(data)
    shorthand = "steps" not in data  # then the one step is made from top-level keys
    recipe = validate_every_problem(
        Recipe, data, positions, filename, functools.partial(_source_path, shorthand, tools_key)
    )
    if base_dir is None:
        base_dir = Path(filename).parent if not filename.startswith("<") else Path(".")
    return LoadedRecipe(recipe, None, text, Path(os.path.abspath(base_dir)))


def load_recipe(path: str | os.PathLike) -> LoadedRecipe:
    """Read and validate a recipe file."""
    p = Path(path)
    text = read_text_file(p, "recipe")
    loaded = load_recipe_text(text, str(p), p.parent)
    loaded.path = p
    return loaded


# --- params -------------------------------------------------------------------------------


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and (not value or any(c.isspace() for c in value)):
        return json.dumps(value)
    return str(value)


def params_hint(recipe: Recipe) -> str:
    """`this recipe takes: -p test=<string> (required), -p attempts=<integer> (default 3)`."""
    if not recipe.params:
        return "this recipe takes no params"
    parts = []
    for name, spec in recipe.params.items():
        note = (
            "required"
            if spec.required
            else "optional"
            if spec.default is None
            else f"default {_show(spec.default)}"
        )
        parts.append(f"-p {name}=<{spec.type}> ({note})")
    return "this recipe takes: " + ", ".join(parts)


_TRUE, _FALSE = {"true", "yes", "1"}, {"false", "no", "0"}


def _convert(name: str, spec: ParamSpec, raw: str, hint: str) -> Any:
    text = raw.strip()
    try:
        if spec.type == "integer":
            return int(text, 10)
        if spec.type == "number":
            value = float(text)
            if not math.isfinite(value):
                raise ValueError
            return value
        if spec.type == "boolean":
            if text.lower() in _TRUE | _FALSE:
                return text.lower() in _TRUE
            raise ValueError
    except ValueError:
        expect = {
            "integer": "a whole number",
            "number": "a number",
            "boolean": "true/false, yes/no or 1/0",
        }[spec.type]
        raise UsageError(f'param "{name}" must be {expect}, got "{raw}"', hint) from None
    return raw


def parse_params(recipe: Recipe, pairs: list[str]) -> dict[str, Any]:
    """Typed values for every declared param from `-p KEY=VALUE` strings, defaults filled in."""
    hint = params_hint(recipe)
    given: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise UsageError(f'bad param "{pair}": expected KEY=VALUE', hint)
        key, raw = pair.split("=", 1)
        spec = recipe.params.get(key)
        if spec is None:
            raise UsageError(f'unknown param "{key}"', hint)
        if key in given:
            raise UsageError(f'param "{key}" given more than once', hint)
        given[key] = _convert(key, spec, raw, hint)
    missing = [k for k, s in recipe.params.items() if s.required and k not in given]
    if missing:
        raise UsageError(
            "missing required param"
            + ("s " if len(missing) > 1 else " ")
            + ", ".join(f'"{k}"' for k in missing),
            hint,
        )
    return {k: given.get(k, s.default) for k, s in recipe.params.items()}
