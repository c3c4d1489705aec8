"""The policies a job starts with: the recipe's `policy:` and each `--policy`, read and checked
before the job is made, and kept with it as text (a resume decides by the same rules even if
the files change; engine/policy_updates.py adds the files changed since)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from agentctl.errors import RecipeError, UsageError

if TYPE_CHECKING:
    from agentctl.recipe.load import LoadedRecipe


def load_policy_snapshots(
    loaded: LoadedRecipe, policy_files: Sequence[str]
) -> list[dict[str, str]]:
    """The recipe's policy and each --policy, checked now and kept with the job.

    A job keeps the text of its policies, so a resume decides by the same rules even if the
    files changed; none can loosen another (the strictest decision wins).
    """
    snapshots = []
    recipe_policy = loaded.policy_path()
    if recipe_policy is not None:
        try:
            snapshots.append(read_policy(recipe_policy))
        except OSError as error:
            raise policy_error(
                loaded,
                f"policy: cannot read {recipe_policy}: {error.strerror or error}",
                "a recipe's policy: is relative to the recipe's folder; fix the path",
            ) from None
    return snapshots + read_policies(policy_files, "check the --policy path")


def read_policies(files: Sequence[str], hint: str) -> list[dict[str, str]]:
    """Each policy file's path and text, once it reads (exit 2 otherwise, with `hint`) and
    parses (errors name file:line:column)."""
    read = []
    for name in files:
        path = Path(name).expanduser()
        try:
            read.append(read_policy(path))
        except OSError as error:
            raise UsageError(
                f"cannot read the policy {path}: {error.strerror or error}", hint
            ) from None
    return read


def read_policy(path: Path) -> dict[str, str]:
    """One policy file's absolute path and text, checked (OSError when it cannot be read)."""
    from agentctl.policy.rules import load_policy_text

    text = path.read_text(encoding="utf-8")
    load_policy_text(text, str(path))  # errors name file:line:column
    return {"path": str(path.resolve()), "text": text}


def policy_error(loaded: LoadedRecipe, message: str, hint: str) -> UsageError:
    """An error about the recipe's `policy:`, naming where it is written (file:line:col)."""
    from agentctl.yamlload import load_yaml

    _, positions = load_yaml(loaded.text, str(loaded.path or "<recipe>"))
    mark = positions.value(("policy",))
    return RecipeError(
        message,
        hint,
        file=str(loaded.path) if loaded.path else None,
        line=mark.line if mark else None,
        column=mark.column if mark else None,
    )
