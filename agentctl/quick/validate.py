"""A cache miss: the recipe, its params, models and policies checked by the engine's own
functions, in `engine.launch.prepare_job`'s order, and what a queued job keeps of them.

Only the checks that do not depend on the call are here (the workspace, the store, the key
and the schedule are checked on every call, in `enqueue.py`). Any error is the caller's cue
to hand the command line to the typer app, which runs the same checks and reports it.
"""

from __future__ import annotations

import io
import os
import sys
from typing import TYPE_CHECKING

from agentctl.quick.cache import EnvRecorder, faithful

if TYPE_CHECKING:
    from agentctl.quick.cache import Facts
    from agentctl.recipe.roles import ModelRole


class NotCacheable(Exception):
    """The verdict depends on more than the cache can check (a local model's file)."""


def validate_inputs(
    recipe_file: str, params: list[str], policies: list[str], models: list[str]
) -> tuple[Facts, dict[str, str | None], str]:
    """(the facts a queued job keeps, the environment the checks observed, what they wrote
    on stdout and stderr). The facts: the recipe's name, steps and `workspace: {git}` flag;
    the typed params; the model overrides; each policy's source path, resolved path and text.
    Raises what the checks raise, or NotCacheable."""
    env = EnvRecorder(os.environ)
    said = io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = said
    try:
        facts = _check(recipe_file, params, policies, models, env)
    finally:
        sys.stdout, sys.stderr = saved
    if env.whole or not faithful(env.names):
        raise NotCacheable("the checks read more of the environment than the cache keeps")
    return facts, env.observed(), said.getvalue()


def _check(
    recipe_file: str, pairs: list[str], policy_files: list[str], models: list[str], env: EnvRecorder
) -> Facts:
    from pathlib import Path

    from agentctl.engine.launch import check_model_roles, local_models_checked
    from agentctl.engine.policy_files import load_policy_snapshots
    from agentctl.engine.steps import model_roles
    from agentctl.models.roles import check_models_configured
    from agentctl.recipe.load import load_recipe
    from agentctl.recipe.params import parse_params

    loaded = load_recipe(recipe_file)
    recipe = loaded.recipe
    params = parse_params(recipe, list(pairs))
    check_model_roles(recipe, models)
    roles = model_roles(recipe.steps)
    overrides = list(models)
    if roles:
        overrides = local_models_checked(loaded, overrides, roles, env)
        _refuse_local(recipe.models, overrides, env)
    check_models_configured(recipe.models, overrides, env, roles, None)
    sources = [str(p) for p in [loaded.policy_path()] if p is not None]
    sources += [str(Path(name).expanduser()) for name in policy_files]
    snapshots = load_policy_snapshots(loaded, policy_files)
    return {
        "name": recipe.name,
        "steps": [{"id": s.id, "kind": s.kind} for s in recipe.steps],
        "recipe_git": getattr(recipe, "workspace", None) is not None,
        "params": params,
        "models": overrides,
        "policies": [
            {"source": source, "path": snap["path"], "text": snap["text"]}
            for source, snap in zip(sources, snapshots, strict=True)
        ],
    }


def _refuse_local(models: dict[str, ModelRole], overrides: list[str], env: EnvRecorder) -> None:
    """A local model's verdict depends on its file and runtime: checked on every call."""
    from agentctl.models.local import is_local_model
    from agentctl.models.roles import fallback_models, resolve_roles

    resolved = resolve_roles(models, overrides, env)
    for role in resolved.values():
        if any(is_local_model(m) for m in [role.model, *fallback_models(resolved, role)]):
            raise NotCacheable(f"role {role.name!r} runs a local model")
