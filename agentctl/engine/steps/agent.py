"""`agent:` steps: the agent loop (engine/agent.py) with the step's model role, tools and
check, its instructions and prompt rendered from the job's context."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentctl.engine.steps import StepRun


class AgentStepExecutor:
    kind = "agent"
    calls_model = True

    def execute(self, run: StepRun, step: Any) -> str:
        from agentctl.engine.agent import AgentLoop, AgentStep
        from agentctl.tools.toolbox import build_registry

        agent = step.agent
        model = run.model_client()
        estimate = getattr(model, "estimate_call_cost", None)
        loop = AgentLoop(
            journal=run.journal,
            index=run.index,
            actions=run.actions,
            model=model,
            estimate_cost=estimate or (lambda role, messages: 0.0),
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

    def model_roles(self, step: Any) -> set[str]:
        return {step.agent.model}


EXECUTOR = AgentStepExecutor()
