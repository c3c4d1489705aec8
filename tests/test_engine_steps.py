"""Step kinds: one executor per kind in the recipe schema, looked up in one table."""

from __future__ import annotations

from agentctl.engine.steps import EXECUTORS, calls_model, model_roles
from agentctl.recipe.load import load_recipe_text
from agentctl.recipe.schema import STEP_KINDS

RECIPE = """
version: 1
name: kinds
models:
  cheap: {model: openai/gpt-4.1-mini}
steps:
  - id: build
    run: make
  - id: fix
    agent: {instructions: Fix it., model: cheap}
  - id: review
    agent: {instructions: Review it.}
  - id: ship
    approval: Ship it?
"""


def test_every_step_kind_has_its_executor():
    assert set(EXECUTORS) == set(STEP_KINDS)
    assert all(executor.kind == kind for kind, executor in EXECUTORS.items())


def test_each_step_reports_its_kind_and_the_model_roles_it_calls(tmp_path):
    recipe = load_recipe_text(RECIPE, "kinds.yaml", base_dir=tmp_path).recipe
    assert [s.kind for s in recipe.steps] == ["run", "agent", "agent", "approval"]
    assert model_roles(recipe.steps) == {"cheap", "default"}
    assert model_roles(recipe.steps[:1] + recipe.steps[3:]) == set()


def test_only_agent_steps_wait_for_a_model():
    assert [calls_model(kind) for kind in STEP_KINDS] == [False, True, False]
    assert calls_model("unknown-kind-from-a-newer-log") is False


MCP_RECIPE = """
version: 1
name: mcp
mcp:
  git: {command: [git-mcp]}
  docs: {url: "https://docs.example/mcp"}
steps:
  - id: build
    run: make
  - id: fix
    agent: {instructions: Fix it., tools: [read_file, git.git_status, "git.git_log*"]}
  - id: look
    agent: {instructions: Look., tools: [docs.search], max_turns: 9}
  - id: ship
    approval: Ship it?
"""


def test_each_executor_says_which_mcp_servers_its_step_uses(tmp_path):
    from agentctl.engine.steps import mcp_servers

    recipe = load_recipe_text(MCP_RECIPE, "mcp.yaml", base_dir=tmp_path).recipe
    assert [mcp_servers(recipe, s) for s in recipe.steps] == [
        {},
        {"git": ["git.git_status", "git.git_log*"]},
        {"docs": ["docs.search"]},
        {},
    ]


def test_resume_limits_replace_the_recipes_and_each_agent_steps_own(tmp_path):
    from agentctl.engine.steps import with_limits

    recipe = load_recipe_text(MCP_RECIPE, "mcp.yaml", base_dir=tmp_path).recipe
    changed = with_limits(recipe, {"max_turns": 3, "max_cost_usd": 2.0})
    assert changed.limits.max_turns == 3 and changed.limits.max_cost_usd == 2.0
    assert [s.agent.max_turns for s in changed.steps if s.agent is not None] == [3, 3]
    assert changed.steps[0] == recipe.steps[0] and changed.steps[3] == recipe.steps[3]
    assert recipe.steps[2].agent is not None and recipe.steps[2].agent.max_turns == 9
