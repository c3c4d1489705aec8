"""Budgets that hold (issue 22): before each call max_tokens is capped so the call cannot pass
the smallest budget left (the job's max_cost_usd or the role's) at the model's price; a call
is refused only when not even a minimal reply fits; money is shown with the digits it has."""

from __future__ import annotations

import json

import pytest
from conftest import invoke, write
from fakeserver import ScriptedOpenAIServer

from agentctl.engine.limits import JobLimits, Usage, check_limits
from agentctl.engine.stops import LimitExceeded
from agentctl.models.calls import build_model_client
from agentctl.models.prices import MIN_REPLY_TOKENS
from agentctl.units import format_usd

MSGS = [{"role": "user", "content": "hello"}]


def test_money_is_shown_with_the_digits_it_has():
    # Observed: a message rounded $0.004 to "$0.00".
    assert format_usd(0.004) == "$0.004"
    assert format_usd(0.00045) == "$0.00045"
    assert format_usd(1.5) == "$1.50" and format_usd(0) == "$0.00"
    assert format_usd(0.123) == "$0.123" and format_usd(12.345) == "$12.35"
    with pytest.raises(LimitExceeded) as caught:
        check_limits(
            JobLimits(max_cost_usd=0.004),
            Usage(cost_usd=0.0035),
            active_seconds=0,
            next_cost_estimate=0.001,
        )
    assert "$0.0035 spent" in caught.value.message and "$0.004 allowed" in caught.value.message


@pytest.mark.slow
def test_a_role_budget_caps_the_first_reply():
    # Observed: a per-role max_cost_usd was passed 4.5 times over by the first call.
    reply = {"content": "long answer", "usage": {"prompt_tokens": 10, "completion_tokens": 450}}
    with ScriptedOpenAIServer([reply]) as server:
        role = {
            "model": "openai/priced",
            "api_base": server.base_url,
            "input_cost_per_token": 1e-4,
            "output_cost_per_token": 1e-4,
            "max_cost_usd": 0.01,
        }
        client = build_model_client({"default": role}, retry_delays=(0.0, 0.0))
        answer = client.complete("default", MSGS, [], call_index=0)
        asked = server.chat_requests[0]["body"]["max_tokens"]
    # What is left after the prompt, at the output price: under 100 tokens.
    assert MIN_REPLY_TOKENS <= asked < 100
    assert answer.cost_usd <= 0.01
    assert client.spent["default"] <= 0.01  # type: ignore[attr-defined]


@pytest.mark.slow
def test_a_role_without_budget_left_for_a_minimal_reply_goes_to_its_fallback():
    with ScriptedOpenAIServer() as server:
        roles = {
            "default": {
                "model": "openai/priced",
                "api_base": server.base_url,
                "output_cost_per_token": 1e-3,
                "max_cost_usd": 0.01,  # 10 tokens' worth: less than a minimal reply
                "fallbacks": ["openai/free"],
            }
        }
        client = build_model_client(roles, retry_delays=(0.0, 0.0))
        answer = client.complete("default", MSGS, [], call_index=0)
        sent = server.chat_requests[0]["body"]
    assert answer.model == "openai/free" and sent["model"] == "free"
    assert answer.attempts[0]["reason"] == "over budget"
    assert "$0.01 left" in answer.attempts[0]["error"]
    assert "max_tokens" not in sent  # a free model is not capped


RECIPE = """\
version: 1
name: budget
models:
  default:
    model: openai/fake-model
    api_base: "{base}"
    input_cost_per_token: 0.0000004
    output_cost_per_token: 0.0000016
limits: {{max_cost_usd: {budget}}}
steps:
  - id: ask
    agent:
      instructions: "{instructions}"
"""


def run_budget(tmp_path, server, budget: float):
    text = RECIPE.format(base=server.base_url, budget=budget, instructions="x" * 4000)
    recipe = write(tmp_path / "budget.yaml", text)
    workspace = tmp_path / "ws"
    workspace.mkdir(exist_ok=True)
    return invoke("run", str(recipe), "--workspace", str(workspace), "--json")


@pytest.mark.slow
def test_a_small_job_budget_lets_a_cheap_call_through_with_max_tokens_capped(tmp_path):
    # Observed: without max_tokens a $0.002 job budget refused a $0.00045 call (it counted a
    # 1000-token reply); now the reply is capped to what the budget leaves.
    answer = {"content": "ok", "usage": {"prompt_tokens": 1000, "completion_tokens": 30}}
    with ScriptedOpenAIServer([answer]) as server:
        result = run_budget(tmp_path, server, 0.002)
        sent = server.chat_requests[0]["body"] if server.chat_requests else {}
    job = json.loads(result.stdout)
    assert result.exit_code == 0 and job["state"] == "succeeded", result.stderr
    assert job["usage"]["cost_usd"] == pytest.approx(1000 * 4e-7 + 30 * 1.6e-6)
    # Capped below what the whole budget buys at the output price (the prompt takes its share).
    assert MIN_REPLY_TOKENS <= sent["max_tokens"] < 0.002 / 1.6e-6


@pytest.mark.slow
def test_a_job_budget_that_cannot_pay_for_the_prompt_refuses_the_call(tmp_path):
    with ScriptedOpenAIServer() as server:
        result = run_budget(tmp_path, server, 0.0001)
        asked = len(server.chat_requests)
    job = json.loads(result.stdout)
    assert result.exit_code == 1 and job["error"]["type"] == "limit", job
    assert (
        "max_cost_usd" in job["error"]["message"] and "$0.0001 allowed" in job["error"]["message"]
    )
    assert asked == 0
