"""Validating a YAML document against a schema model and reporting *every* problem in it.

pydantic stops early in two ways: a model-level check (the recipe's cross-check of tools and
templates) runs only once every field is valid, and a key typed wrong (`instructons:`) hides
what the right key would have found. So validation runs in rounds: after each failed round,
the values that failed are set aside (an unknown key is renamed to its close match when the
model has one and the document does not already use it; an optional bad value is removed)
and the rest is validated again, until nothing new is found. Every problem found in any round
is reported, in file order, each placed where the user wrote it (`agentctl.yamlload`).
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from agentctl.errors import RecipeError
from agentctl.yamlload import DataPath, Positions, error_path, model_at, validation_errors

M = TypeVar("M", bound=BaseModel)

_ROUNDS = 4  # each round can only uncover the layer below the last; 4 covers the schemas


def validate_every_problem(
    root: type[M],
    data: Any,
    positions: Positions,
    filename: str,
    source_path: Callable[[DataPath], DataPath] = lambda p: p,
) -> M:
    """The validated model, or a RecipeError (first problem in file order, the rest in its
    `also`) naming every problem found in the document."""
    try:
        return root.model_validate(data)
    except ValidationError as first:
        exc = first
    renamed: dict[DataPath, DataPath] = {}  # where a key now is -> where the user wrote it

    def where_written(path: DataPath) -> DataPath:
        path = source_path(path)
        for now, then in renamed.items():
            if path[: len(now)] == now:
                return then + path[len(now) :]
        return path

    found: list[RecipeError] = []
    seen: set[tuple[str, int | None, int | None]] = set()
    current = copy.deepcopy(data)
    for _ in range(_ROUNDS):
        this_round = [
            error
            for error in validation_errors(exc, positions, filename, root, where_written)
            if (error.message, error.line, error.column) not in seen
        ]
        if not _set_aside(current, exc, root, renamed):
            # a check of the whole document failed first (a recipe without steps:): a key
            # typed wrong at the top may be why, and pydantic never got to say so. This
            # round's complaints may all follow from the typo: the next round says if not.
            typos = _rename_top_typos(current, root, renamed)
            if not typos:
                found.extend(this_round)
                break
            this_round = [_typo_error(k, close, root, positions, filename) for k, close in typos]
        for error in this_round:
            seen.add((error.message, error.line, error.column))
            found.append(error)
        try:
            root.model_validate(current)
        except ValidationError as again:
            exc = again
        else:
            break
    found.sort(key=lambda e: (e.line or 0, e.column or 0))
    head = found[0]
    head.also = found[1:]
    raise head


def _set_aside(
    data: Any, exc: ValidationError, root: type[BaseModel], renamed: dict[DataPath, DataPath]
) -> bool:
    """Rename or remove what failed so the next round sees past it; False if nothing moved."""
    moved = False
    for err in exc.errors(include_url=False):
        loc = error_path(err)
        if err["type"] == "extra_forbidden" and loc:
            moved |= _rename_or_drop(data, loc, root, renamed)
        elif err["type"] != "missing":
            moved |= _drop_optional(data, loc, root)
    return moved


def _container(data: Any, path: DataPath) -> Any:
    for part in path:
        in_list = isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        if not in_list and not (isinstance(data, dict) and part in data):
            return None
        data = data[part]
    return data


def _rename_top_typos(
    data: Any, root: type[BaseModel], renamed: dict[DataPath, DataPath]
) -> list[tuple[str, str]]:
    """Top-level keys the model does not know that are close to one it does: renamed."""
    if not isinstance(data, dict):
        return []
    out = []
    for key in [k for k in data if isinstance(k, str) and k not in root.model_fields]:
        allowed = [name for name in root.model_fields if name not in data]
        close = difflib.get_close_matches(key, allowed, n=1)
        if close:
            data[close[0]] = data.pop(key)
            renamed[(close[0],)] = (key,)
            out.append((key, close[0]))
    return out


def _typo_error(
    key: str, close: str, root: type[BaseModel], positions: Positions, filename: str
) -> RecipeError:
    mark = positions.key((key,))
    allowed = ", ".join(root.model_fields)
    return RecipeError(
        f'unknown key "{key}"; allowed keys: {allowed}',
        f"did you mean `{close}`?",
        file=filename,
        line=mark.line if mark else None,
        column=mark.column if mark else None,
    )


def _rename_or_drop(
    data: Any, loc: DataPath, root: type[BaseModel], renamed: dict[DataPath, DataPath]
) -> bool:
    parent, key = _container(data, loc[:-1]), loc[-1]
    if not isinstance(parent, dict) or key not in parent:
        return False
    model = model_at(root, loc[:-1])
    allowed = [name for name in (model.model_fields if model else {}) if name not in parent]
    close = difflib.get_close_matches(str(key), allowed, n=1)
    value = parent.pop(key)
    if close:
        parent[close[0]] = value
        renamed[loc[:-1] + (close[0],)] = loc
    return True


def _drop_optional(data: Any, loc: DataPath, root: type[BaseModel]) -> bool:
    """Remove the deepest mapping entry on `loc` that may be left out (a model field with a
    default, or an entry of a plain mapping such as `params:`). List items stay: removing one
    would shift the positions of the items after it."""
    # pydantic adds the union member or validator name to a location: keep what is in the data
    path: DataPath = ()
    for part in loc:
        if _container(data, path + (part,)) is None and not (
            isinstance(_container(data, path), dict) and part in _container(data, path)
        ):
            break
        path += (part,)
    for end in range(len(path), 0, -1):
        parent = _container(data, path[: end - 1])
        key = path[end - 1]
        if not isinstance(parent, dict) or key not in parent:
            continue
        model = model_at(root, path[: end - 1])
        if model is None:
            if end > 1:  # an entry of a plain mapping (params:, tools:, mcp:)
                del parent[key]
                return True
            continue
        field = model.model_fields.get(str(key))
        if field is not None and not field.is_required():
            del parent[key]
            return True
    return False
