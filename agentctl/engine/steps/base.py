"""What a step executor is (`StepExecutor`) and what the runner offers the step it runs
(`StepRun`): the contract between engine/run and the executors of engine/steps."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from agentctl.engine.actions import ActionRunner
    from agentctl.engine.approvals import Gate
    from agentctl.engine.journal import Journal, ReplayIndex
    from agentctl.models.client import ModelClient
    from agentctl.recipe.schema import Recipe, Step
    from agentctl.tools.base import ToolResult
    from agentctl.tools.registry import ToolRegistry


class McpTools(Protocol):
    """The run's MCP servers (engine/mcp.McpRun), as a step sees them."""

    def register_tools(self, registry: ToolRegistry) -> None:
        """Register every tool the run's servers listed (a step selects them by name)."""
        ...


class StepRun(Protocol):
    """What a runner offers the step it runs."""

    @property
    def job_id(self) -> str: ...
    @property
    def recipe(self) -> Recipe: ...  # under the limits `resume --limit` changed
    @property
    def journal(self) -> Journal: ...
    @property
    def index(self) -> ReplayIndex: ...
    @property
    def actions(self) -> ActionRunner: ...
    @property
    def gate(self) -> Gate: ...
    @property
    def mcp(self) -> McpTools | None: ...  # None: the job uses no MCP server

    def render(self, template: str, *, shell: bool = False) -> str: ...

    def run_shell(
        self,
        *,
        step: str,
        key: str,
        command: str,
        timeout: float | None = None,
        idempotent: bool = False,
    ) -> ToolResult: ...

    def model_client(self) -> ModelClient: ...

    def masked_text(self) -> Callable[[str], None] | None: ...

    def active_seconds(self) -> float: ...


class StepExecutor(Protocol):
    """How one kind of step runs, and what it needs before the job starts: the model roles
    it calls (so a missing API key is reported up front), the MCP servers it uses (started
    before the first step) and how `resume --limit` changes it."""

    kind: str
    calls_model: bool

    def execute(self, run: StepRun, step: Step) -> str: ...

    def model_roles(self, step: Step) -> set[str]: ...

    def mcp_servers(self, recipe: Recipe, step: Step) -> dict[str, list[str]]:
        """{server: the `tools:` patterns naming it} for the MCP servers the step uses."""
        ...

    def with_limits(self, step: Step, limits: Mapping[str, float]) -> Step:
        """The step under limits changed with `resume --limit` (the job-wide ones)."""
        ...


class ModellessStep:
    """What a step that calls no model and no MCP server says of itself (run:, approval:)."""

    calls_model = False

    def model_roles(self, step: Step) -> set[str]:
        return set()

    def mcp_servers(self, recipe: Recipe, step: Step) -> dict[str, list[str]]:
        return {}

    def with_limits(self, step: Step, limits: Mapping[str, float]) -> Step:
        return step  # resume --limit changes only job-wide limits for it
