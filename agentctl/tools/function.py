"""What the built-in and custom tools share: argument schemas, argument checking, the wrapper.

A tool is a `FunctionTool`: a ToolSpec plus a handler. The wrapper checks the model's
arguments against the spec's JSON schema before the handler runs, and turns a ToolError or an
OSError into `ToolResult(ok=False)`, because the model must see such failures and try again,
not crash the job. The tools themselves live in `files`, `shell`, `http` and `custom`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agentctl.errors import ToolError
from agentctl.tools.base import ToolContext, ToolResult, ToolSpec

JSON_TYPES = ("string", "integer", "number", "boolean")

Handler = Callable[[dict[str, Any], ToolContext], ToolResult]


def make_tool_error(message: str, code: str) -> ToolError:
    """Return a ToolError carrying the short code the model's ToolResult will show."""
    return ToolError(message, code)


def fail(message: str, code: str, **extra: Any) -> ToolResult:
    return ToolResult(ok=False, output=message, error=code, **extra)


def describe_param(type_: str, description: str, **extra: Any) -> dict[str, Any]:
    """Return the JSON schema of one argument."""
    if type_ not in JSON_TYPES:
        raise ValueError(f"unsupported parameter type {type_!r}")
    return {"type": type_, "description": description, **extra}


def build_object_schema(
    properties: dict[str, dict[str, Any]], required: list[str]
) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


def _coerce_value(name: str, value: Any, schema: dict[str, Any]) -> Any:
    """Return `value` checked against its schema; raise ToolError naming the argument."""
    type_ = schema.get("type", "string")
    # bool is an int subclass in Python but not a JSON integer or number.
    if type_ == "string" and isinstance(value, str):
        return value
    if type_ == "boolean" and isinstance(value, bool):
        return value
    if type_ == "integer" and not isinstance(value, bool):  # noqa: SIM102
        # Models sometimes send 3.0 for 3; that is still the integer the schema asks for.
        if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
            value = int(value)
            if "minimum" in schema and value < schema["minimum"]:
                raise make_tool_error(
                    f"argument '{name}' must be at least {schema['minimum']}, got {value}",
                    "bad_args",
                )
            return value
    if type_ == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return value
    raise make_tool_error(
        f"argument '{name}' must be {'an' if type_ == 'integer' else 'a'} {type_}, "
        f"got {type(value).__name__} {value!r:.60}",
        "bad_args",
    )


def validate_args(spec: ToolSpec, args: Any) -> dict[str, Any]:
    """Return the arguments checked against `spec`, with schema defaults filled in."""
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise make_tool_error(
            f"{spec.name} takes an object of named arguments, got {type(args).__name__}",
            "bad_args",
        )
    properties: dict[str, dict[str, Any]] = spec.parameters.get("properties", {})
    known = ", ".join(properties) or "none"
    for name in args:
        if name not in properties:
            raise make_tool_error(
                f"unknown argument '{name}' for {spec.name} (expected: {known})", "bad_args"
            )
    for name in spec.parameters.get("required", []):
        if args.get(name) is None:
            raise make_tool_error(f"missing required argument '{name}' for {spec.name}", "bad_args")
    checked: dict[str, Any] = {}
    for name, schema in properties.items():
        value = args.get(name)
        if value is None:
            # An explicit null counts as "not given": models send it for optional arguments.
            if schema.get("default") is not None:
                checked[name] = schema["default"]
            continue
        checked[name] = _coerce_value(name, value, schema)
    return checked


@dataclass
class FunctionTool:
    """A tool whose behaviour is a handler function; satisfies the `Tool` protocol."""

    spec: ToolSpec
    handler: Handler

    def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        try:
            checked = validate_args(self.spec, args)
            return self.handler(checked, ctx)
        except ToolError as exc:
            return fail(exc.message, exc.code)
        except OSError as exc:
            where = f": {exc.filename}" if exc.filename else ""
            return fail(f"{exc.strerror or exc}{where}", "os_error")
