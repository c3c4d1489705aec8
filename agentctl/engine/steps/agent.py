"""`agent:` steps: the agent loop (engine/agent.py) with the step's model role, tools and
check, its instructions and prompt rendered from the job's context."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentctl.engine.steps.base import StepRun
    from agentctl.recipe.schema import AgentSpec, Recipe, Step

# The limits of `resume --limit` an agent step also has of its own.
STEP_LIMITS = ("max_turns", "max_tool_calls")


def _agent(step: Step) -> AgentSpec:
    assert step.agent is not None  # EXECUTORS hands this executor agent steps only
    return step.agent


class AgentStepExecutor:
    kind = "agent"
    calls_model = True

    def execute(self, run: StepRun, step: Step) -> str:
        from agentctl.engine.agent import AgentLoop, AgentStep
        from agentctl.tools.toolbox import build_registry

        agent = _agent(step)
        model = run.model_client()
        loop = AgentLoop(
            journal=run.journal,
            index=run.index,
            actions=run.actions,
            model=model,
            estimate_cost=model.estimate_call_cost,
            on_text=run.masked_text(),
            run_check=run.run_shell,
            active_seconds=run.active_seconds,
        )
        registry = build_registry(run.recipe.tools)
        if run.mcp is not None:  # the run's MCP servers (engine/mcp.py)
            run.mcp.register_tools(registry)
        tools = registry.select(agent.tools)
        spec = AgentStep(
            step_id=step.id,
            role=agent.model,
            instructions=run.render(agent.instructions),
            prompt=run.render(agent.prompt) if agent.prompt else "",
            tools=tools,
            max_turns=agent.max_turns,
            max_tool_calls=agent.max_tool_calls,
            check_command=run.render(step.check.run, shell=True) if step.check else None,
            check_attempts=step.check.attempts if step.check else 1,
        )
        return loop.run(spec)

    def model_roles(self, step: Step) -> set[str]:
        return {_agent(step).model}

    def mcp_servers(self, recipe: Recipe, step: Step) -> dict[str, list[str]]:
        agent = _agent(step)
        return {
            server: [p for p in agent.tools or [] if p.partition(".")[0] == server]
            for server in recipe.mcp_servers_for(agent)
        }

    def with_limits(self, step: Step, limits: Mapping[str, float]) -> Step:
        own = {k: limits[k] for k in STEP_LIMITS if k in limits}
        return step.model_copy(update={"agent": _agent(step).model_copy(update=own)})


EXECUTOR = AgentStepExecutor()
