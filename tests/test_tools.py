"""Tests of agentctl.tools: built-in tools, workspace confinement, custom command tools."""

from __future__ import annotations

import http.server
import threading
import time
import typing
from pathlib import Path
from types import SimpleNamespace

import pytest

from agentctl.errors import ToolError, UsageError
from agentctl.process.run import minimal_env
from agentctl.tools.base import ToolContext, ToolResult
from agentctl.tools.builtin import BUILTIN_TOOLS
from agentctl.tools.toolbox import build_toolbox
from agentctl.workspace import resolve_in_workspace


@pytest.fixture
def ws(tmp_path) -> Path:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    return workspace


@pytest.fixture
def ctx(ws) -> ToolContext:
    return ToolContext(workspace=ws, timeout=10, output_cap=4096, env=minimal_env())


@pytest.fixture
def tools():
    return build_toolbox({}, None)


def call(tools, name: str, ctx: ToolContext, **args) -> ToolResult:
    result = tools[name].run(args, ctx)
    assert isinstance(result, ToolResult)
    return result


def test_specs_are_object_schemas_with_honest_read_only(tools):
    assert tuple(tools) == BUILTIN_TOOLS
    expected_read_only = {
        "read_file": True,
        "list_files": True,
        "http_get": True,
        "write_file": False,
        "edit_file": False,
        "shell": False,
    }
    for name, tool in tools.items():
        spec = tool.spec
        assert spec.name == name and spec.description.strip()
        assert spec.read_only is expected_read_only[name]
        params = spec.parameters
        assert params["type"] == "object"
        assert isinstance(params["properties"], dict)
        assert set(params["required"]) <= set(params["properties"])
        for prop in params["properties"].values():
            assert prop["type"] in ("string", "integer", "number", "boolean")
            assert prop["description"]
        assert spec.to_openai()["function"]["parameters"] is params


def test_build_toolbox_selects_exactly_the_names():
    box = build_toolbox({}, ["shell", "read_file"])
    assert list(box) == ["shell", "read_file"]


def test_build_toolbox_unknown_name_is_usage_error():
    with pytest.raises(UsageError) as info:
        build_toolbox({}, ["read_file", "nope"])
    assert "nope" in info.value.message
    assert "read_file" in info.value.hint and "shell" in info.value.hint


def test_custom_tool_may_not_shadow_a_builtin():
    with pytest.raises(UsageError):
        build_toolbox({"shell": custom_def("true")}, None)


def test_args_are_validated_against_the_spec(tools, ctx):
    missing = call(tools, "read_file", ctx)
    assert not missing.ok and missing.error == "bad_args" and "'path'" in missing.output
    wrong = call(tools, "read_file", ctx, path=3)
    assert not wrong.ok and "'path'" in wrong.output and "string" in wrong.output
    unknown = call(tools, "read_file", ctx, path="a", colour="red")
    assert not unknown.ok and "'colour'" in unknown.output
    bad_bool = call(tools, "list_files", ctx, recursive="yes")
    assert not bad_bool.ok and "'recursive'" in bad_bool.output
    bad_int = call(tools, "read_file", ctx, path="a", offset=True)
    assert not bad_int.ok and "'offset'" in bad_int.output


def test_resolve_in_workspace(ws, tmp_path):
    assert resolve_in_workspace(ws, "a/b.txt") == ws.resolve() / "a" / "b.txt"
    assert resolve_in_workspace(ws, "a/../b") == ws.resolve() / "b"
    assert resolve_in_workspace(ws, str(ws / "c")) == ws.resolve() / "c"
    for bad in ("../x", "/etc/passwd", "a/../../x"):
        with pytest.raises(ToolError, match="outside the workspace"):
            resolve_in_workspace(ws, bad)
    (ws / "link").symlink_to(tmp_path)
    with pytest.raises(ToolError):
        resolve_in_workspace(ws, "link/secret")


@pytest.mark.parametrize("path", ["../outside.txt", "/etc/passwd", "escape", "escape_dir/x"])
def test_paths_outside_the_workspace_are_refused(tools, ctx, ws, tmp_path, path):
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    (ws / "escape").symlink_to(outside)
    (ws / "escape_dir").symlink_to(tmp_path)
    read = call(tools, "read_file", ctx, path=path)
    assert not read.ok and read.error == "outside_workspace" and "secret" not in read.output
    write = call(tools, "write_file", ctx, path=path, content="pwned")
    assert not write.ok and write.error == "outside_workspace"
    edit = call(tools, "edit_file", ctx, path=path, old="secret", new="pwned")
    assert not edit.ok
    assert outside.read_text() == "secret"
    assert not (tmp_path / "x").exists()
    listing = call(tools, "list_files", ctx, path=path)
    assert not listing.ok


def test_read_file_whole_and_line_window(tools, ctx, ws):
    (ws / "f.txt").write_text("".join(f"line{i}\n" for i in range(1, 11)))
    whole = call(tools, "read_file", ctx, path="f.txt")
    assert whole.ok and whole.output.startswith("line1\n") and "line10" in whole.output
    part = call(tools, "read_file", ctx, path="f.txt", offset=3, limit=2)
    assert part.ok and part.output.startswith("line3\nline4\n")
    assert "line5" not in part.output and "offset=5" in part.output
    assert "continues" not in call(tools, "read_file", ctx, path="f.txt", offset=9, limit=2).output
    past = call(tools, "read_file", ctx, path="f.txt", offset=50)
    assert past.ok and "10 lines" in past.output
    (ws / "empty.txt").write_text("")
    assert "empty" in call(tools, "read_file", ctx, path="empty.txt").output


def test_read_file_errors_and_binary(tools, ctx, ws):
    missing = call(tools, "read_file", ctx, path="nope.txt")
    assert not missing.ok and missing.error == "not_found" and "nope.txt" in missing.output
    (ws / "d").mkdir()
    assert call(tools, "read_file", ctx, path="d").error == "not_a_file"
    (ws / "b.bin").write_bytes(b"\x00\x01\x02" * 100)
    binary = call(tools, "read_file", ctx, path="b.bin")
    assert "binary" in binary.output and "300 bytes" in binary.output


def test_read_file_caps_big_files(tools, ctx, ws):
    (ws / "big.txt").write_text("start\n" + "x" * 100_000 + "\nend\n")
    result = call(tools, "read_file", ctx, path="big.txt")
    assert result.ok and result.truncated
    assert result.output.startswith("start") and result.output.rstrip().endswith("end")
    assert len(result.output.encode()) <= ctx.output_cap


def test_write_file_creates_parents_and_reports_bytes(tools, ctx, ws):
    result = call(tools, "write_file", ctx, path="a/b/c.txt", content="héllo")
    assert result.ok and "6 bytes" in result.output and "a/b/c.txt" in result.output
    assert (ws / "a/b/c.txt").read_text() == "héllo"
    again = call(tools, "write_file", ctx, path="a/b/c.txt", content="x")
    assert again.ok and (ws / "a/b/c.txt").read_text() == "x"
    assert call(tools, "write_file", ctx, path="a", content="x").error == "is_a_directory"
    assert call(tools, "write_file", ctx, path="s.txt", content="bad \ud800").ok


def test_write_through_symlink_inside_workspace_is_allowed(tools, ctx, ws):
    (ws / "real.txt").write_text("old")
    (ws / "alias.txt").symlink_to(ws / "real.txt")
    assert call(tools, "write_file", ctx, path="alias.txt", content="new").ok
    assert (ws / "real.txt").read_text() == "new"


def test_edit_file_needs_exactly_one_match(tools, ctx, ws):
    target = ws / "e.txt"
    target.write_text("alpha\nbeta\nbeta\n")
    zero = call(tools, "edit_file", ctx, path="e.txt", old="gamma", new="x")
    assert not zero.ok and zero.error == "no_match" and "0" in zero.output
    two = call(tools, "edit_file", ctx, path="e.txt", old="beta", new="x")
    assert not two.ok and two.error == "ambiguous_match" and "2 times" in two.output
    assert target.read_text() == "alpha\nbeta\nbeta\n"
    one = call(tools, "edit_file", ctx, path="e.txt", old="alpha\n", new="ALPHA\n")
    assert one.ok and "line 1" in one.output
    assert target.read_text() == "ALPHA\nbeta\nbeta\n"
    assert call(tools, "edit_file", ctx, path="e.txt", old="", new="x").error == "bad_args"
    assert call(tools, "edit_file", ctx, path="none.txt", old="a", new="b").error == "not_found"


def test_edit_file_keeps_crlf_line_endings(tools, ctx, ws):
    (ws / "w.txt").write_bytes(b"one\r\ntwo\r\n")
    assert call(tools, "edit_file", ctx, path="w.txt", old="two", new="2").ok
    assert (ws / "w.txt").read_bytes() == b"one\r\n2\r\n"


def test_list_files_sorted_skips_git_and_filters(tools, ctx, ws):
    for rel in ("b.py", "a.txt", "src/c.py", "src/deep/d.py", ".git/config", ".git/objects/x"):
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text("x")
    listing = call(tools, "list_files", ctx)
    assert listing.ok
    assert listing.output.splitlines() == ["a.txt", "b.py", "src/c.py", "src/deep/d.py"]
    flat = call(tools, "list_files", ctx, recursive=False)
    assert flat.output.splitlines() == ["a.txt", "b.py", "src/"]
    py = call(tools, "list_files", ctx, pattern="*.py")
    assert py.output.splitlines() == ["b.py", "src/c.py", "src/deep/d.py"]
    sub = call(tools, "list_files", ctx, path="src", recursive=False)
    assert sub.output.splitlines() == ["src/c.py", "src/deep/"]
    assert call(tools, "list_files", ctx, path="nope").error == "not_found"
    assert call(tools, "list_files", ctx, path="a.txt").error == "not_a_directory"


def test_list_files_caps_entries(tools, ctx, ws):
    for i in range(2100):
        (ws / f"f{i:04d}").touch()
    result = call(tools, "list_files", ctx)
    lines = result.output.splitlines()
    assert result.ok and result.truncated
    assert len(lines) == 2001 and "100 more" in lines[-1]


def test_shell_runs_in_workspace(tools, ctx, ws):
    result = call(tools, "shell", ctx, command="pwd; echo hi >&2")
    assert result.ok and result.exit_code == 0
    assert str(ws.resolve()) in result.output and "hi" in result.output


def test_shell_nonzero_exit_is_not_ok(tools, ctx):
    result = call(tools, "shell", ctx, command="echo failing; exit 7")
    assert not result.ok and result.exit_code == 7 and result.error == "nonzero_exit"
    assert "failing" in result.output and "exit code 7" in result.output


def test_shell_uses_only_ctx_env(tools, ctx, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-leak")
    ctx.env = {**minimal_env(), "GREETING": "hello"}
    result = call(tools, "shell", ctx, command='echo "$GREETING ${OPENAI_API_KEY:-none}"')
    assert result.output.strip() == "hello none"


def test_shell_timeout_and_cancel(tools, ctx):
    ctx.timeout = 0.3
    timed = call(tools, "shell", ctx, command="sleep 30")
    assert not timed.ok and timed.error == "timeout" and "timed out" in timed.output
    ctx.timeout = 20
    ctx.cancel.set()
    started = time.monotonic()
    cancelled = call(tools, "shell", ctx, command="sleep 30")
    assert not cancelled.ok and cancelled.error == "cancelled"
    assert time.monotonic() - started < 2


def test_shell_output_is_capped(tools, ctx):
    result = call(tools, "shell", ctx, command="seq 1 100000")
    assert result.ok and result.truncated
    assert result.output.startswith("1\n2\n") and result.output.rstrip().endswith("100000")


class _Handler(http.server.BaseHTTPRequestHandler):
    ROUTES: typing.ClassVar = {  # path: (status, extra headers, body)
        "/hello": (200, {}, b"hello body"),
        "/redirect": (302, {"Location": "/hello"}, b""),
        "/to-file": (302, {"Location": "file:///etc/passwd"}, b""),
        "/big": (200, {}, b"A" * 100_000 + b"END"),
    }

    def do_GET(self):
        status, headers, body = self.ROUTES.get(self.path, (404, {}, b"no such page"))
        self.send_response(status)
        for name, value in {"Content-Type": "text/plain; charset=utf-8", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server_url():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def no_proxy(monkeypatch):
    for name in (
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)


def test_http_get_ok_redirect_and_status(tools, ctx, server_url, no_proxy):
    ok = call(tools, "http_get", ctx, url=f"{server_url}/hello")
    assert ok.ok and ok.output.startswith("HTTP 200") and "hello body" in ok.output
    redirected = call(tools, "http_get", ctx, url=f"{server_url}/redirect")
    assert redirected.ok and "hello body" in redirected.output and "/hello" in redirected.output
    missing = call(tools, "http_get", ctx, url=f"{server_url}/missing")
    assert not missing.ok and missing.error == "http_status"
    assert "404" in missing.output and "no such page" in missing.output


def test_http_get_caps_body(tools, ctx, server_url, no_proxy):
    big = call(tools, "http_get", ctx, url=f"{server_url}/big")
    assert big.ok and big.truncated and big.output.endswith("END")
    assert len(big.output.encode()) < ctx.output_cap + 200


def test_http_get_refuses_other_schemes(tools, ctx, server_url, no_proxy):
    for url in ("file:///etc/passwd", "ftp://example.com/x", "example.com"):
        result = call(tools, "http_get", ctx, url=url)
        assert not result.ok and result.error == "bad_scheme"
        assert "root:" not in result.output
    hop = call(tools, "http_get", ctx, url=f"{server_url}/to-file")
    assert not hop.ok and "root:" not in hop.output


def test_http_get_connection_refused(tools, ctx, no_proxy):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    result = call(tools, "http_get", ctx, url=f"http://127.0.0.1:{port}/")
    assert not result.ok and result.error == "network"


def param(type_="string", required=False, default=None, description="a value"):
    return SimpleNamespace(type=type_, required=required, default=default, description=description)


def custom_def(command, params=None, read_only=False, timeout=None, description="Custom."):
    return SimpleNamespace(
        description=description,
        command=command,
        params=params or {},
        read_only=read_only,
        timeout=timeout,
    )


def test_custom_tool_spec_and_run(ctx):
    definition = custom_def(
        "echo {name} {count} {loud} ${HOME:+home} '{untouched}'",
        {
            "name": param(required=True),
            "count": param("integer", default=2),
            "loud": param("boolean", default=False),
        },
        read_only=True,
    )
    box = build_toolbox({"greet": definition}, None)
    assert list(box)[-1] == "greet" and len(box) == len(BUILTIN_TOOLS) + 1
    tool = box["greet"]
    assert tool.spec.read_only is True and tool.spec.description == "Custom."
    assert tool.spec.parameters["required"] == ["name"]
    assert tool.spec.parameters["properties"]["count"] == {
        "type": "integer",
        "description": "a value",
        "default": 2,
    }
    result = tool.run({"name": "Ann Lee", "loud": True}, ctx)
    assert result.ok and result.output.strip() == "Ann Lee 2 true home {untouched}"


def test_custom_tool_quotes_arguments(ctx, ws):
    box = build_toolbox({"say": custom_def("echo {text}", {"text": param(required=True)})}, ["say"])
    for evil in ("; touch pwned", "$(touch pwned)", "`touch pwned`", "' ; touch pwned; '"):
        result = box["say"].run({"text": evil}, ctx)
        assert result.ok and result.output.strip() == evil
    assert not (ws / "pwned").exists()


def test_custom_tool_argument_errors(ctx):
    box = build_toolbox(
        {"n": custom_def("echo {x}", {"x": param("integer", required=True)})}, ["n"]
    )
    missing = box["n"].run({}, ctx)
    assert not missing.ok and "'x'" in missing.output
    wrong = box["n"].run({"x": "1; rm -rf /"}, ctx)
    assert not wrong.ok and wrong.error == "bad_args"


def test_custom_tool_timeout_and_exit(ctx):
    slow = custom_def("sleep 30", timeout=0.3)
    failing = custom_def("exit 4")
    box = build_toolbox({"slow": slow, "failing": failing}, ["slow", "failing"])
    started = time.monotonic()
    assert box["slow"].run({}, ctx).error == "timeout"
    assert time.monotonic() - started < 2
    result = box["failing"].run({}, ctx)
    assert not result.ok and result.exit_code == 4


def test_custom_tool_bad_definitions_are_usage_errors():
    with pytest.raises(UsageError):
        build_toolbox({"bad name!": custom_def("true")}, None)
    with pytest.raises(UsageError):
        build_toolbox({"t": custom_def("true", {"x": param("array")})}, ["shell"])


def test_tools_never_print(tools, ctx, ws, capfd):
    (ws / "f.txt").write_text("content")
    call(tools, "read_file", ctx, path="f.txt")
    call(tools, "shell", ctx, command="echo loud; echo louder >&2")
    call(tools, "list_files", ctx)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_os_errors_become_results(tools, ctx, ws):
    (ws / "plain.txt").write_text("x")
    result = call(tools, "write_file", ctx, path="plain.txt/child.txt", content="y")
    assert not result.ok and result.error == "os_error" and "plain.txt" in result.output


def test_read_file_resolves_the_path_once_and_not_the_workspace_again(ws, ctx, tools, monkeypatch):
    import os

    (ws / "once.txt").write_text("hello\n")
    read = tools["read_file"]
    assert read.run({"path": "once.txt"}, ctx).output == "hello\n"
    target = os.path.realpath(ws / "once.txt")
    looked: list[str] = []
    real_lstat = os.lstat
    monkeypatch.setattr(
        os, "lstat", lambda p, *a, **k: looked.append(os.fspath(p)) or real_lstat(p, *a, **k)
    )
    assert read.run({"path": "once.txt"}, ctx).output == "hello\n"
    # Only the names below the resolved workspace, once each (issue 14): the folders above
    # it are not looked at again.
    assert looked == [target]
