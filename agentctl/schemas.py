"""The JSON Schemas of recipes and policies, for editors (yaml-language-server) and tools.

Made from the pydantic models that validate the files, with what the models accept beyond
their field types written out: durations and sizes as text (`30m`, `1MB`), the one-agent
shorthand (`instructions:` without `steps:`), and `sandbox: off` (YAML reads it as false).
The copies in agentctl/shipped/schema/ (the repository's schema/) are these, written by
`agentctl schema recipe > schema/recipe.json`; a test keeps them equal.
"""

from __future__ import annotations

from typing import Any

from agentctl.schema_docs import describe_properties

KINDS = ("recipe", "policy")
SCHEMA_FILES = {"recipe": "recipe.json", "policy": "policy.json"}
_DURATION = {
    "anyOf": [
        {"type": "number", "minimum": 0},
        {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*$|^(\d+(\.\d+)?[dhmsDHMS])+$"},
        {"type": "null"},
    ],
    "description": "seconds, or a duration such as 90s, 30m, 1h30m, 2d",
}
_SIZE = {
    "anyOf": [{"type": "integer", "minimum": 0}, {"type": "string"}],
    "description": "bytes, or a size such as 512KB, 1MB, 2MiB",
}
_DURATION_FIELDS = {"timeout", "tool_timeout", "expires_after"}
_SIZE_FIELDS = {"max_file_size"}


def build_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a recipe or a policy."""
    if kind == "recipe":
        from agentctl.recipe.schema import Recipe

        schema = Recipe.model_json_schema(mode="validation")
        # `instructions:` alone is a one-agent recipe: steps or instructions, not both needed.
        schema["required"] = [name for name in schema["required"] if name != "steps"]
        schema["anyOf"] = [{"required": ["steps"]}, {"required": ["instructions"]}]
        # ... whose tool list may be written `tools: [read_file, ...]` (custom tools are a map)
        custom = schema["properties"]["tools"]
        schema["properties"]["tools"] = {
            "anyOf": [custom, {"type": "array", "items": {"type": "string"}}],
            **{k: custom.pop(k) for k in ("default", "title") if k in custom},
        }
        title = "agentctl recipe (version 1)"
    elif kind == "policy":
        from agentctl.policy.rules import Policy

        schema = Policy.model_json_schema(mode="validation")
        sandbox = schema["properties"].get("sandbox")
        if sandbox is not None:
            schema["properties"]["sandbox"] = {"anyOf": [sandbox, {"const": False}]}
        title = "agentctl policy (version 1)"
    else:
        raise ValueError(f"unknown schema kind {kind!r}")
    _write_out_units(schema)
    describe_properties(schema, "Recipe" if kind == "recipe" else "Policy")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        **{k: v for k, v in schema.items() if k != "title"},
    }


def _write_out_units(node: Any) -> None:
    """Durations and sizes are numbers to the models but text in the files people write."""
    if isinstance(node, dict):
        properties = node.get("properties")
        if isinstance(properties, dict):
            for name, spec in list(properties.items()):
                extra = {k: spec[k] for k in ("default", "title") if k in spec}
                if name in _DURATION_FIELDS:
                    properties[name] = {**_DURATION, **extra}
                elif name in _SIZE_FIELDS:
                    properties[name] = {**_SIZE, **extra}
        for value in node.values():
            _write_out_units(value)
    elif isinstance(node, list):
        for value in node:
            _write_out_units(value)


def schema_text(kind: str) -> str:
    """The schema as the committed files hold it."""
    import json

    return json.dumps(build_schema(kind), indent=2, ensure_ascii=False) + "\n"
