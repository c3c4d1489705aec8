"""Loading a recipe: YAML text or a file to a validated `Recipe`, with its folder and text.

Every problem of the file is reported at once, at its line (`agentctl.yamlcheck`); errors in
the one-agent shorthand point at the top-level keys the user wrote, not the step made of them.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentctl.errors import RecipeError
from agentctl.recipe.schema import SHORTHAND, Recipe
from agentctl.yamlcheck import validate_every_problem
from agentctl.yamlload import DataPath, load_yaml, read_text_file


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


def _source_path(shorthand: bool, tools_key: str, loc: DataPath) -> DataPath:
    """Where a model path was written: the shorthand's synthetic step maps back to the top
    (its tool list from `tools_key`: `agent_tools:`, or `tools:` when written as a list)."""
    if loc[:1] == ("agent_tools",):
        return (tools_key,) + loc[1:]
    if not shorthand or loc[:1] != ("steps",):
        return loc
    if len(loc) >= 4 and loc[1] == 0 and loc[2] == "agent":
        written: dict[str | int, str] = {v: k for k, v in SHORTHAND.items()}
        raw = written.get(loc[3], loc[3])
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


def load_recipe(path: str | os.PathLike[str]) -> LoadedRecipe:
    """Read and validate a recipe file."""
    p = Path(path)
    text = read_text_file(p, "recipe")
    loaded = load_recipe_text(text, str(p), p.parent)
    loaded.path = p
    return loaded
