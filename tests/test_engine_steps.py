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
