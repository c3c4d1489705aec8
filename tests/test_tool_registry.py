"""The one tool registry: each spec says what its tool touches, and every reader uses that."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentctl.changes.record import ChangeRecorder
from agentctl.errors import UsageError
from agentctl.policy.touches import build_parts
from agentctl.tools.base import ToolContext, ToolResult, ToolSpec, Touches
from agentctl.tools.builtin import BUILTIN_TOOLS, OPTIONAL_TOOLS, builtin_registry, builtin_spec
from agentctl.tools.function import FunctionTool, build_object_schema, describe_param
from agentctl.tools.registry import ToolRegistry


def outside_tool(name: str = "copy_to") -> FunctionTool:
    """A tool registered from outside tools/builtin, e.g. what an MCP server offers."""

    def run(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        (ctx.workspace / args["target"]).write_text("copied")
        return ToolResult(ok=True, output="copied")

    spec = ToolSpec(
        name,
        "Copy something to `target`.",
        build_object_schema({"target": describe_param("string", "Where to.")}, ["target"]),
        read_only=False,
        touches=Touches(path="target", writes=True),
    )
    return FunctionTool(spec, run)


def test_builtin_names_are_defined_once_in_the_registry():
    assert BUILTIN_TOOLS == (
        "read_file",
        "write_file",
        "edit_file",
        "list_files",
        "shell",
        "http_get",
    )
    assert OPTIONAL_TOOLS == ("interactive",)
    assert builtin_registry().names() == BUILTIN_TOOLS + OPTIONAL_TOOLS


def test_every_builtin_says_what_it_touches():
    facts = {
        name: (spec.read_only, spec.touches, spec.subject_arg, spec.required_args)
        for name in BUILTIN_TOOLS + OPTIONAL_TOOLS
        if (spec := builtin_spec(name)) is not None
    }
    assert facts["read_file"] == (True, Touches(path="path"), "path", ("path",))
    assert facts["write_file"][:3] == (False, Touches(path="path", writes=True), "path")
    assert facts["list_files"] == (True, Touches(path="path", default_path="."), "path", ())
    assert facts["shell"] == (
        False,
        Touches(command="command", processes=True),
        "command",
        ("command",),
    )
    assert facts["http_get"] == (True, Touches(url="url"), "url", ("url",))
    assert facts["interactive"][1].processes and facts["interactive"][2] is None
    assert builtin_spec("no_such_tool") is None


def test_a_registry_refuses_a_second_tool_of_the_same_name():
    registry = builtin_registry()
    registry.register(outside_tool())
    with pytest.raises(UsageError):
        registry.register(outside_tool())
    with pytest.raises(UsageError):
        registry.register(outside_tool("shell"))
    assert "copy_to" in registry.select(None) and "copy_to" not in builtin_registry()


def test_optional_tools_only_when_named():
    registry = ToolRegistry([(outside_tool(), False)])
    assert registry.select(None) == {}
    assert list(registry.select(["copy_to"])) == ["copy_to"]
    with pytest.raises(UsageError, match="unknown tool 'nope'"):
        registry.select(["nope"])


def test_the_policy_reads_the_path_an_outside_tool_declares(tmp_path: Path):
    spec = outside_tool().spec
    parts = build_parts("copy_to", {"target": ".env"}, str(tmp_path), set(), spec.touches)
    assert [p.paths[0].raw for p in parts] == [".env"]
    assert any(v.decision == "deny" for p in parts for v in p.votes)  # a secret file
    bad = build_parts("copy_to", {"target": 3}, str(tmp_path), set(), spec.touches)
    assert bad[0].votes[0].label == "builtin:bad-arguments"


def test_change_recording_reads_the_spec(tmp_path: Path):
    rec = ChangeRecorder(tmp_path)
    tool = outside_tool()
    (tmp_path / "other.txt").write_text("x")
    token = rec.before(tool.spec, {"target": "out.txt"})
    assert token.mode == "file"  # one declared path written: only that file is read
    tool.run({"target": "out.txt"}, ToolContext(workspace=tmp_path))
    assert [c["path"] for c in rec.after(token)] == ["out.txt"]
    assert rec.before(builtin_spec("read_file"), {"path": "other.txt"}).mode == "none"
    assert rec.before(None, {}).mode == "tree"  # nothing declared: anything may change


def test_a_policy_decides_an_outside_tool_by_what_its_spec_declares(tmp_path: Path):
    from agentctl.policy.rules import PolicySet, load_policy_text

    policy = PolicySet(
        [
            load_policy_text(
                "version: 1\nname: p\ndefault: allow\nrules:\n"
                "  - {id: no-docs, paths: ['docs/**'], decision: deny}\n",
                "p.yaml",
            )
        ]
    )
    touches = outside_tool().spec.touches
    denied = policy.decide("copy_to", {"target": "docs/a.md"}, workspace=tmp_path, touches=touches)
    allowed = policy.decide("copy_to", {"target": "src/a.py"}, workspace=tmp_path, touches=touches)
    assert (denied.decision, allowed.decision) == ("deny", "allow")
    assert any("no-docs" in rule for rule in denied.rules)
    # Only the declared path is the tool's: undeclared, every string would be taken as one.
    args = {"target": "src/a.py", "message": "docs/notes"}
    assert policy.decide("copy_to", args, workspace=tmp_path, touches=touches).decision == "allow"
    assert policy.decide("copy_to", args, workspace=tmp_path).decision == "deny"
