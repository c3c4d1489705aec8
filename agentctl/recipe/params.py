"""A recipe's params: their declaration (`params:`) and the typed values `-p KEY=VALUE` gives.

`parse_params` converts each value to its declared type and fills in defaults; every failure
is a UsageError whose hint (`params_hint`) lists what the recipe takes.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, StrictBool, model_validator

from agentctl.errors import UsageError
from agentctl.yamlload import FieldError

if TYPE_CHECKING:
    from agentctl.recipe.schema import Recipe

_STRICT = ConfigDict(extra="forbid")


class ParamSpec(BaseModel):
    model_config = _STRICT
    type: Literal["string", "integer", "number", "boolean"] = "string"
    required: StrictBool = False
    default: Any = None
    description: str = ""

    @model_validator(mode="after")
    def _default_matches_type(self) -> ParamSpec:
        if self.default is None:
            return self
        if self.required:
            raise FieldError(
                ("default",),
                "a required param cannot have a default",
                "drop `required: true` or the default",
                at_key=True,
            )
        ok = {
            "string": isinstance(self.default, str),
            "integer": isinstance(self.default, int) and not isinstance(self.default, bool),
            "number": isinstance(self.default, (int, float)) and not isinstance(self.default, bool),
            "boolean": isinstance(self.default, bool),
        }[self.type]
        if not ok:
            raise FieldError(
                ("default",),
                f"default {self.default!r} is not of type {self.type}",
                f"give a default of type {self.type}, or change `type:`",
            )
        if self.type == "number":
            self.default = float(self.default)
        return self


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and (not value or any(c.isspace() for c in value)):
        return json.dumps(value)
    return str(value)


def params_hint(recipe: Recipe) -> str:
    """`this recipe takes: -p test=<string> (required), -p attempts=<integer> (default 3)`."""
    if not recipe.params:
        return "this recipe takes no params"
    parts = []
    for name, spec in recipe.params.items():
        note = (
            "required"
            if spec.required
            else "optional"
            if spec.default is None
            else f"default {_show(spec.default)}"
        )
        parts.append(f"-p {name}=<{spec.type}> ({note})")
    return "this recipe takes: " + ", ".join(parts)


_TRUE, _FALSE = {"true", "yes", "1"}, {"false", "no", "0"}


def _convert(name: str, spec: ParamSpec, raw: str, hint: str) -> Any:
    text = raw.strip()
    try:
        if spec.type == "integer":
            return int(text, 10)
        if spec.type == "number":
            value = float(text)
            if not math.isfinite(value):
                raise ValueError
            return value
        if spec.type == "boolean":
            if text.lower() in _TRUE | _FALSE:
                return text.lower() in _TRUE
            raise ValueError
    except ValueError:
        expect = {
            "integer": "a whole number",
            "number": "a number",
            "boolean": "true/false, yes/no or 1/0",
        }[spec.type]
        raise UsageError(f'param "{name}" must be {expect}, got "{raw}"', hint) from None
    return raw


def parse_params(recipe: Recipe, pairs: list[str]) -> dict[str, Any]:
    """Typed values for every declared param from `-p KEY=VALUE` strings, defaults filled in."""
    hint = params_hint(recipe)
    given: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise UsageError(f'bad param "{pair}": expected KEY=VALUE', hint)
        key, raw = pair.split("=", 1)
        spec = recipe.params.get(key)
        if spec is None:
            raise UsageError(f'unknown param "{key}"', hint)
        if key in given:
            raise UsageError(f'param "{key}" given more than once', hint)
        given[key] = _convert(key, spec, raw, hint)
    missing = [k for k, s in recipe.params.items() if s.required and k not in given]
    if missing:
        raise UsageError(
            "missing required param"
            + ("s " if len(missing) > 1 else " ")
            + ", ".join(f'"{k}"' for k in missing),
            hint,
        )
    return {k: given.get(k, s.default) for k, s in recipe.params.items()}
