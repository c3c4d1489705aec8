"""The one tool registry: each spec says what its tool touches, and every reader uses that."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentctl.changes.record import ChangeRecorder
from agentctl.errors import UsageError
from agentctl.policy.touches import build_parts
from agentctl.recipe.schema import CustomTool as RecipeTool
from agentctl.tools.base import ToolContext, ToolResult, ToolSpec, Touches
from agentctl.tools.builtin import (
    BUILTIN_TOOLS,
    OPTIONAL_TOOLS,
    action_subject,
    builtin_registry,
    builtin_spec,
    builtins_where,
)
from agentctl.tools.custom import CommandTool
from agentctl.tools.function import FunctionTool, build_object_schema, describe_param
from agentctl.tools.mcp_tools import ListedTool, McpTool, model_name
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
    assert facts["interactive"][1] == Touches(processes=True, terminal=True)
    assert facts["interactive"][2] is None
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


# -- the fact sheet: kind, qualified name, host, subject ---------------------------------------


def test_a_spec_knows_its_kind_its_qualified_name_and_the_subject_of_an_action():
    shell, read = builtin_spec("shell"), builtin_spec("read_file")
    assert shell is not None and read is not None
    assert (shell.kind, shell.qualified_name, shell.host) == ("builtin", "shell", None)
    assert shell.subject({"command": "ls  -la"}) == "ls  -la"
    assert read.subject({"path": "a.txt", "limit": 3}) == "a.txt"
    custom = CommandTool("greet", RecipeTool(command="echo hi"))
    assert custom.spec.kind == "custom" and custom.spec.qualified_name == "greet"
    assert builtin_spec("interactive").touches.terminal  # type: ignore[union-attr]
    # A logged action is described by its tool's name: the spec's subject for a built-in,
    # its path or URL or its arguments for any other tool.
    assert action_subject("shell", {"command": "make test"}) == "make test"
    assert action_subject("http_get", {"url": "https://x.org/"}) == "https://x.org/"
    assert action_subject("run_tests", {"command": "x"}) == '{"command": "x"}'
    assert action_subject("git.git_diff", {"path": "src"}) == "src"


class _Hub:
    def call(self, name: str, tool: str, args: dict[str, Any], **kw: Any) -> ToolResult:
        return ToolResult(ok=True, output=f"{name}.{tool} {args}")


def mcp_tool(server: str, name: str, host: str | None = None) -> McpTool:
    listed = ListedTool(server, name, f"The {name} tool.", {"type": "object"})
    return McpTool(
        listed, hub=_Hub(), model_name=model_name(server, name), read_only=False, host=host
    )


def test_mcp_tools_register_and_are_selected_like_every_other_tool(tmp_path: Path):
    registry = builtin_registry()
    for tool in (
        mcp_tool("git", "status"),
        mcp_tool("git", "log"),
        mcp_tool("docs", "search", host="docs.example.com"),
    ):
        registry.register(tool, default=False)
    assert "git.status" in registry and registry.spec("git.log").kind == "mcp"  # type: ignore[union-attr]
    with pytest.raises(UsageError, match="defined twice"):
        registry.register(mcp_tool("git", "status"), default=False)
    assert set(registry.select(None)) == set(BUILTIN_TOOLS)  # only when a step names them
    box = registry.select(["read_file", "git.*", "docs.search"])
    assert list(box) == ["read_file", "git__status", "git__log", "docs__search"]
    spec = box["docs__search"].spec
    assert (spec.qualified_name, spec.host, spec.touches.processes) == (
        "docs.search",
        "docs.example.com",
        False,  # a remote server is no process here
    )
    assert box["git__log"].spec.touches.processes  # a stdio server is
    result = box["git__status"].run({}, ToolContext(workspace=tmp_path))
    assert result.output == "git.status {}"


def test_an_mcp_tool_whose_model_name_is_taken_gets_a_free_one():
    registry = ToolRegistry()
    registry.register(mcp_tool("srv", "a.b"), default=False)
    registry.register(mcp_tool("srv", "a_b"), default=False)  # both are srv__a_b to a model
    box = registry.select(["srv.*"])
    assert list(box)[:1] == ["srv__a_b"] and len(box) == 2
    assert [t.spec.qualified_name for t in box.values()] == ["srv.a.b", "srv.a_b"]
    # The registered tool keeps its own name; only the step's copy is renamed.
    assert registry.spec("srv.a_b").name == "srv__a_b"  # type: ignore[union-attr]


def test_code_outside_tools_asks_the_facts_not_the_names(tmp_path: Path):
    assert builtins_where(lambda spec: spec.touches.writes) == ("write_file", "edit_file")
    assert builtins_where(lambda spec: spec.touches.command) == ("shell",)
    assert builtins_where(lambda spec: spec.touches.terminal) == ("interactive",)
    # Any tool that declares a terminal has what it starts decided as a shell command.
    terminal = Touches(processes=True, terminal=True)
    parts = build_parts(
        "my_terminal", {"action": "start", "command": "ls"}, str(tmp_path), set(), terminal
    )
    assert [(p.text, p.tool) for p in parts][1:] == [("ls", "shell")]
    plain = build_parts(
        "my_tool", {"action": "start", "command": "ls"}, str(tmp_path), set(), Touches()
    )
    assert [p.tool for p in plain] == [None]
