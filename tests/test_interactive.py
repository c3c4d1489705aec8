"""Tests of the `interactive` tool: terminal sessions that live across calls within a step."""

from __future__ import annotations

import os
import shlex
import time
import uuid
from pathlib import Path

import pytest
from conftest import sandbox_python

from agentctl.process import sandbox as confine
from agentctl.process.sandbox import Confinement, SandboxSettings, probe_confinement
from agentctl.tools.base import ToolContext
from agentctl.tools.interactive import close_sessions, strip_terminal
from agentctl.tools.toolbox import build_toolbox

PROBED = probe_confinement()
needs_bwrap = pytest.mark.skipif(not PROBED.available, reason=f"no sandbox here: {PROBED.reason}")
REPL = f"{shlex.quote(sandbox_python())} -q"
PROMPT = r">>> $"
MODES = ["off", pytest.param("required", marks=needs_bwrap)]


@pytest.fixture
def tool():
    return build_toolbox({}, ["interactive"])["interactive"]


@pytest.fixture
def make_ctx(tmp_path: Path):
    made: list[ToolContext] = []

    def make(sandbox: str = "off") -> ToolContext:
        ctx = ToolContext(
            workspace=tmp_path, sandbox=SandboxSettings(sandbox, network=False), timeout=30
        )
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        close_sessions(ctx.sessions)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def processes_with(marker: str, within: float = 2.0) -> list[str]:
    deadline = time.monotonic() + within
    while True:
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit() and alive(int(entry)):
                try:
                    cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
                except OSError:
                    continue
                if marker.encode() in cmdline:
                    found.append(entry)
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_not_in_the_default_tool_set_but_available_by_name():
    assert "interactive" not in build_toolbox({}, None)
    tool = build_toolbox({}, ["interactive"])["interactive"]
    assert tool.spec.read_only is False
    assert set(tool.spec.parameters["properties"]) == {
        "action",
        "session",
        "command",
        "input",
        "newline",
        "expect",
        "timeout",
    }


@pytest.mark.parametrize("mode", MODES)
def test_python_repl_computes_and_closes(tool, make_ctx, mode):
    ctx = make_ctx(mode)
    started = tool.run({"action": "start", "session": "py", "command": REPL, "expect": PROMPT}, ctx)
    assert started.ok, started.output
    assert ctx.confinement["confinement"] == ("bwrap" if mode == "required" else "none")
    answer = tool.run({"action": "send", "session": "py", "input": "6*7", "expect": PROMPT}, ctx)
    assert answer.ok and "42" in answer.output
    assert "\x1b" not in answer.output and "\r" not in answer.output
    closed = tool.run({"action": "close", "session": "py"}, ctx)
    assert closed.ok and "closed" in closed.output
    assert "py" not in ctx.sessions.get("interactive", {})


def test_session_survives_across_calls_and_close_sessions_kills_it(tool, make_ctx):
    ctx = make_ctx()
    marker = f"{2000 + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 10**6:06d}"
    assert tool.run({"action": "start", "session": "a", "command": REPL, "expect": PROMPT}, ctx).ok
    assert tool.run({"action": "send", "session": "a", "input": "x = 41", "expect": PROMPT}, ctx).ok
    # A background process in its own session, the kind that escapes a process-group kill.
    spawn = f"import subprocess; p = subprocess.Popen(['setsid', 'sleep', '{marker}'])"
    assert tool.run({"action": "send", "session": "a", "input": spawn, "expect": PROMPT}, ctx).ok
    again = tool.run({"action": "send", "session": "a", "input": "x + 1", "expect": PROMPT}, ctx)
    assert again.ok and "42" in again.output
    assert processes_with(f"sleep {marker}", within=0) != []
    reaper_pid = ctx.sessions["interactive"]["a"].child.pid
    close_sessions(ctx.sessions)
    assert "interactive" not in ctx.sessions
    assert not alive(reaper_pid)
    assert processes_with(f"sleep {marker}") == []
    close_sessions(ctx.sessions)  # closing twice is fine


@needs_bwrap
def test_confined_session_is_killed_by_close_sessions(tool, make_ctx):
    ctx = make_ctx("required")
    marker = f"{3000 + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 10**6:06d}"
    assert tool.run(
        {
            "action": "start",
            "session": "s",
            "command": f"setsid sleep {marker} & {REPL}",
            "expect": PROMPT,
        },
        ctx,
    ).ok
    written = tool.run(
        {
            "action": "send",
            "session": "s",
            "expect": PROMPT,
            "input": "open('/etc/agentctl-interactive', 'w')",
        },
        ctx,
    )
    assert "Read-only file system" in written.output
    close_sessions(ctx.sessions)
    assert processes_with(f"sleep {marker}") == []


def test_expect_timeout_leaves_the_session_running(tool, make_ctx):
    ctx = make_ctx()
    assert tool.run({"action": "start", "command": REPL, "expect": PROMPT}, ctx).ok
    waited = tool.run(
        {
            "action": "send",
            "input": "import time; time.sleep(30)",
            "expect": PROMPT,
            "timeout": 0.5,
        },
        ctx,
    )
    assert not waited.ok and waited.error == "timeout" and "still running" in waited.output
    interrupted = tool.run(
        {"action": "send", "input": "\x03", "newline": False, "expect": PROMPT, "timeout": 5}, ctx
    )
    assert interrupted.ok and "KeyboardInterrupt" in interrupted.output


def test_read_without_expect_returns_once_quiet(tool, make_ctx):
    ctx = make_ctx()
    started = time.monotonic()
    result = tool.run({"action": "start", "session": "sh", "command": "echo hello; sleep 30"}, ctx)
    assert result.ok and result.output.strip() == "hello"
    assert time.monotonic() - started < 5
    assert tool.run({"action": "read", "session": "sh", "timeout": 0.3}, ctx).output == ""


def test_program_exit_ends_the_session(tool, make_ctx):
    ctx = make_ctx()
    result = tool.run({"action": "start", "session": "e", "command": "echo bye; exit 3"}, ctx)
    assert "bye" in result.output and "ended; exit code 3" in result.output
    assert result.exit_code == 3
    assert "e" not in ctx.sessions.get("interactive", {})


def test_bad_requests_are_told_to_the_model(tool, make_ctx):
    ctx = make_ctx()
    assert tool.run({"action": "send", "session": "none", "input": "x"}, ctx).error == "no_session"
    assert tool.run({"action": "start"}, ctx).error == "bad_args"
    assert tool.run({"action": "jump"}, ctx).error == "bad_args"
    assert tool.run({"action": "start", "command": "cat", "expect": "("}, ctx).error == "bad_args"
    assert tool.run({"action": "start", "command": "cat"}, ctx).ok
    assert tool.run({"action": "start", "command": "cat"}, ctx).error == "session_exists"


def test_required_mode_refuses_without_a_sandbox(tool, make_ctx, monkeypatch):
    monkeypatch.setattr(
        confine, "_probed", Confinement("none", "bubblewrap (bwrap) is not installed")
    )
    ctx = make_ctx("required")
    result = tool.run({"action": "start", "command": REPL}, ctx)
    assert not result.ok and result.error == "sandbox_unavailable"
    assert "not installed" in result.output and not ctx.sessions.get("interactive")


def test_output_is_capped(tool, make_ctx):
    ctx = make_ctx()
    ctx.output_cap = 2000
    result = tool.run({"action": "start", "command": "yes | head -c 200000; sleep 30"}, ctx)
    assert result.truncated and len(result.output.encode()) <= 2000


def test_strip_terminal():
    assert (
        strip_terminal("\x1b[31mred\x1b[0m\r\n50%\r100%\n\x1b]0;title\x07ok\x07") == "red\n100%\nok"
    )
