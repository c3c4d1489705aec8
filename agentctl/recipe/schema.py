"""Recipe v1: the schema the engine runs (Recipe, Step, AgentSpec, ...).

Owns the one-agent shorthand (top-level `instructions:` becomes a single step with id
"agent") and the load-time checks across the recipe: names, step ids, agents' model roles and
tools, and that every template parses and only names declared params, earlier steps and
listed env vars (`agentctl.recipe.templates`). Beside it: params (`params`), model roles
(`roles`), loading a file (`load`); YAML parsing and error positions live in
`agentctl.yamlload`.
"""

from __future__ import annotations

import re
import shlex
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    field_validator,
    model_validator,
)

from agentctl.errors import suggest
from agentctl.fieldtypes import ByteSize, Duration, PosFloat, PosInt
from agentctl.recipe.params import ParamSpec
from agentctl.recipe.roles import ModelRole
from agentctl.recipe.templates import IDENT, check_template
from agentctl.tools.builtin import BUILTIN_TOOLS, OPTIONAL_TOOLS
from agentctl.yamlload import DataPath, FieldError, FieldErrors

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
    """`workspace: {git: URL, ref: REV, push: BRANCH}`: each run clones its own workspace;
    with `push`, a job that succeeds commits its changes and pushes them as BRANCH."""

    model_config = _STRICT
    git: str = Field(min_length=1)
    ref: str | None = None
    push: str | None = Field(default=None, min_length=1)


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
        problems = self._check_names()
        if not self.steps:
            problems.append(
                FieldError(("steps",), "a recipe needs at least one step", "add a step")
            )
        ids = {step.id for step in self.steps}
        earlier: dict[str, int] = {}  # step id -> index, in order: the steps before this one
        for i, step in enumerate(self.steps):
            problems += self._check_step(step, ("steps", i), ids, earlier)
            earlier.setdefault(step.id, i)
        if len(problems) == 1:
            raise problems[0]
        if problems:
            raise FieldErrors(problems)
        return self

    def _check_names(self) -> list[FieldError]:
        """Problems of the names params, custom tools and MCP servers are declared under
        (a bad server name is raised at once)."""
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
        return problems

    def _check_step(
        self, step: Step, at: DataPath, ids: set[str], earlier: dict[str, int]
    ) -> list[FieldError]:
        """Problems of one step: its id, its agent, its templates (`earlier`: the steps
        before it, by id)."""
        problems: list[FieldError] = []
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
        return problems

    def _check_agent(self, agent: AgentSpec, at: DataPath) -> None:
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
