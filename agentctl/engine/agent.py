"""The agent loop: model -> tool calls -> results -> model, with an optional check loop.

Every model response is committed before the first tool it asks for runs, and every tool
result before the next model call. On resume the conversation is rebuilt from the log: a
turn whose response is recorded is not asked again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from agentctl.engine.actions import ActionRunner
from agentctl.engine.approvals import AskRequest
from agentctl.engine.journal import Journal, ReplayIndex
from agentctl.engine.limits import call_model, check_limits
from agentctl.engine.stops import LimitExceeded, StepFailed
from agentctl.events import ModelResponse
from agentctl.tools.base import Tool, ToolResult

if TYPE_CHECKING:
    from agentctl.models.client import ModelClient
    from agentctl.models.messages import Message
    from agentctl.models.replies import ModelReply

DEFAULT_PROMPT = "Begin."


@dataclass
class AgentStep:
    step_id: str
    role: str
    instructions: str
    prompt: str
    tools: dict[str, Tool]
    max_turns: int | None
    max_tool_calls: int | None
    check_command: str | None
    check_attempts: int


def format_tool_result(result: ToolResult) -> str:
    if result.ok:
        return result.output
    return f"error ({result.error or 'failed'}): {result.output}"


class AgentLoop:
    def __init__(
        self,
        *,
        journal: Journal,
        index: ReplayIndex,
        actions: ActionRunner,
        model: ModelClient,
        estimate_cost: Callable[[str, list[Message]], float],
        on_text: Callable[[str], None] | None,
        run_check: Callable[..., ToolResult],
        active_seconds: Callable[[], float],
    ):
        self.journal = journal
        self.index = index
        self.actions = actions
        self.model = model
        self.estimate_cost = estimate_cost
        self.on_text = on_text
        self.run_check = run_check
        self.active_seconds = active_seconds

    def run(self, spec: AgentStep) -> str:
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": spec.instructions},
            {"role": "user", "content": spec.prompt or DEFAULT_PROMPT},
        ]
        tool_specs = [tool.spec.to_openai() for tool in spec.tools.values()]
        state: dict[str, Any] = {"turn": 0, "tool_calls": 0, "seen": {}, "first": {}}
        final = ""
        for attempt in range(1, spec.check_attempts + 1):
            final = self._converse(spec, messages, tool_specs, state)
            if spec.check_command is None:
                return final
            result = self.run_check(
                step=spec.step_id, key=f"{spec.step_id}/check{attempt}", command=spec.check_command
            )
            if result.ok:
                return final
            if attempt == spec.check_attempts:
                raise StepFailed(
                    f"step {spec.step_id}: the check `{spec.check_command}` still fails after"
                    f" {attempt} attempt{'' if attempt == 1 else 's'}",
                    f"see its output with `agentctl log {self.journal.job_id}`",
                )
            messages.append(
                {
                    "role": "user",
                    "content": (
                        f"The check `{spec.check_command}` failed (attempt {attempt} of"
                        f" {spec.check_attempts}):\n{format_tool_result(result)}\n"
                        "Fix the problem, then reply without calling a tool."
                    ),
                }
            )
        return final

    def _converse(
        self,
        spec: AgentStep,
        messages: list[dict[str, Any]],
        tool_specs: list[dict[str, Any]],
        state: dict[str, Any],
    ) -> str:
        while True:
            key = f"{spec.step_id}/t{state['turn']}"
            recorded = self.index.models.get(key)
            if recorded is not None:
                message = recorded.reply["message"]
            else:
                message = self._ask(spec, key, messages, tool_specs, state["turn"])
            messages.append(message)
            state["turn"] += 1
            calls = message.get("tool_calls") or []
            if not calls:
                return message.get("content") or ""
            gate = self.actions.gate
            gate.upcoming = partial(self._asks_after, spec, key, calls)
            try:
                self._run_calls(spec, key, calls, state, messages)
            finally:
                gate.upcoming = None

    def _run_calls(
        self,
        spec: AgentStep,
        key: str,
        calls: list[dict[str, Any]],
        state: dict[str, Any],
        messages: list[dict[str, Any]],
    ) -> None:
        """The tool calls of one model turn, in the model's order; their results go back
        into the conversation."""
        for number, call in enumerate(calls):
            if (
                spec.max_tool_calls is not None
                and state["tool_calls"] >= spec.max_tool_calls
                and f"{key}/c{number}" not in self.index.finished
            ):
                raise LimitExceeded(
                    "max_tool_calls",
                    (
                        f"limit max_tool_calls reached in step {spec.step_id}:"
                        f" {state['tool_calls']} tool calls of {spec.max_tool_calls} allowed"
                    ),
                )
            repeat, first = self._count_repeat(
                spec, call, state["seen"], state["first"], f"{key}/c{number}"
            )
            state["tool_calls"] += 1
            result = self._act(spec, f"{key}/c{number}", call, repeat, first)
            content = format_tool_result(result)
            if repeat and repeat == self.actions.ctx.limits.max_repeats:
                content += (
                    f"\n\n[agentctl] You have now made this exact call (same tool, same"
                    f" arguments) {repeat + 1} times in this step. Another identical call"
                    " ends the step as failed: try something different."
                )
            messages.append(
                {"role": "tool", "tool_call_id": call.get("id", ""), "content": content}
            )

    def _ask(
        self,
        spec: AgentStep,
        key: str,
        messages: list[dict[str, Any]],
        tool_specs: list[dict[str, Any]],
        turn: int,
    ) -> dict[str, Any]:
        self.actions.check_cancel()
        if spec.max_turns is not None and turn >= spec.max_turns:
            raise LimitExceeded(
                "max_turns",
                f"limit max_turns reached in step {spec.step_id}:"
                f" {turn} model calls of {spec.max_turns} allowed",
            )
        limits = self.actions.ctx.limits
        # Estimating serialises the whole conversation: only worth it under a cost limit.
        estimate = (
            self.estimate_cost(spec.role, messages) if limits.max_cost_usd is not None else 0.0
        )
        check_limits(
            limits,
            self.actions.ctx.usage,
            active_seconds=self.active_seconds(),
            next_cost_estimate=estimate,
        )
        # Whatever is buffered (e.g. the last tool result) is committed before paying for a call.
        self.journal.commit()
        started = time.monotonic()
        reply = call_model(
            self.model,
            self.actions.ctx,
            spec.role,
            messages,
            tool_specs,
            call_index=self.index.model_calls,
            on_text=self.on_text,
        )
        self._record_reply(spec, key, reply, time.monotonic() - started)
        if not reply.message.get("tool_calls"):
            self.journal.commit()
        # With tool calls, the response is committed together with the first action's start.
        return reply.message

    def _record_reply(self, spec: AgentStep, key: str, reply: ModelReply, seconds: float) -> None:
        """A model's reply in the log and in the job's usage."""
        usage = self.actions.ctx.usage
        usage.model_calls += 1
        usage.cost_usd += reply.cost_usd
        usage.input_tokens += reply.input_tokens
        usage.output_tokens += reply.output_tokens
        self.index.model_calls += 1
        response = ModelResponse(key=key, reply=reply.to_dict(), wall_ms=round(seconds * 1000))
        self.journal.add(
            response,
            spec.step_id,
            add_fields={
                "model_calls": 1,
                "cost_usd": reply.cost_usd,
                "input_tokens": reply.input_tokens,
                "output_tokens": reply.output_tokens,
            },
        )
        self.index.models[key] = response

    def _count_repeat(
        self,
        spec: AgentStep,
        call: dict[str, Any],
        seen: dict[str, int],
        first: dict[str, str],
        key: str,
    ) -> tuple[int, str]:
        """How many identical calls this step made before this one, and the key of the first
        of them; past the limit, fail.

        Counted from the conversation, so a resumed step counts exactly as the first run did.
        """
        function = call.get("function") or {}
        name = function.get("name", "")
        raw = function.get("arguments") or "{}"
        try:
            args = json.loads(raw) if isinstance(raw, str) else raw
            identity = json.dumps([name, args], sort_keys=True, separators=(",", ":"))
        except (TypeError, ValueError):
            identity = json.dumps([name, str(raw)])
        repeat = seen.get(identity, 0)
        seen[identity] = repeat + 1
        first.setdefault(identity, key)
        limit = self.actions.ctx.limits.max_repeats
        if repeat > limit:
            shown = identity if len(identity) <= 300 else identity[:300] + "…"
            raise StepFailed(
                f"step {spec.step_id}: the agent repeated the same action {repeat + 1} times"
                f" (limit: {limit} repeats): {name} {shown}",
                "raise limits.max_repeats in the recipe or policy if the repeats are intended,"
                f" or see the conversation with `agentctl log {self.journal.job_id}`",
            )
        return repeat, first[identity]

    def _parse_call(
        self, spec: AgentStep, call: dict[str, Any]
    ) -> tuple[str, Any, dict[str, Any] | None, Tool | None]:
        """(name, raw arguments, arguments as an object or None, the tool or None)."""
        function = call.get("function") or {}
        name = function.get("name", "")
        raw = function.get("arguments") or "{}"
        try:
            args = json.loads(raw) if isinstance(raw, str) else dict(raw)
            if not isinstance(args, dict):
                raise ValueError("not an object")
        except ValueError:
            return name, raw, None, None
        return name, raw, args, spec.tools.get(name)

    def _asks_after(
        self, spec: AgentStep, key: str, calls: list[dict[str, Any]], asked: str
    ) -> list[AskRequest]:
        """The turn's actions after `asked` that need a person (Gate.upcoming)."""
        keys = [f"{key}/c{number}" for number in range(len(calls))]
        asked = asked.removesuffix("/effects")  # an action's held effects (actions.effects_key)
        if asked not in keys:
            return []
        later = []
        for number in range(keys.index(asked) + 1, len(calls)):
            name, _, args, tool = self._parse_call(spec, calls[number])
            if args is not None and tool is not None:
                name = tool.spec.qualified_name
                later.append((keys[number], name, tool, args))
        return self.actions.asks(spec.step_id, later)

    def _act(
        self,
        spec: AgentStep,
        key: str,
        call: dict[str, Any],
        repeat: int = 0,
        repeat_of: str | None = None,
    ) -> ToolResult:
        name, raw, args, tool = self._parse_call(spec, call)
        if args is None:
            return self.actions.record(
                step=spec.step_id,
                key=key,
                name=name,
                args={"raw": raw},
                result=ToolResult(
                    ok=False,
                    error="bad_arguments",
                    output=f"the arguments for {name} are not a JSON object: {str(raw)[:200]}",
                ),
            )
        if tool is None:
            known = ", ".join(spec.tools) or "none"
            return self.actions.record(
                step=spec.step_id,
                key=key,
                name=name,
                args=args,
                result=ToolResult(
                    ok=False,
                    error="unknown_tool",
                    output=f"there is no tool {name!r}; tools: {known}",
                ),
            )
        # The log and the policy know a tool by its own name (an MCP tool's SERVER.TOOL), not
        # by the name the model was shown.
        name = tool.spec.qualified_name
        return self.actions.run(
            step=spec.step_id,
            key=key,
            name=name,
            tool=tool,
            args=args,
            repeat=repeat,
            repeat_of=repeat_of if repeat else None,
        )
