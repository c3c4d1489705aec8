"""The `interactive` tool: programs that want a terminal (a REPL, a debugger, a prompt).

One tool with four actions on named sessions:

- `start` runs `command` (a bash command line) in a pseudo-terminal, in the workspace, with
  the context's environment and the same confinement as the shell tool (bubblewrap as the
  `sandbox` mode says; `required` refuses when no sandbox works here), under the reaper, so
  closing a session kills everything it started;
- `send` types `input` (plus Enter unless `newline` is false; "\\u0003" is Ctrl-C);
- `read` reads what the program printed;
- `close` ends the session.

`start`, `send` and `read` return the output that arrives until `expect` (a regular
expression) matches, or, without `expect`, until the program has been quiet for a moment
(SETTLE_S); either way for at most `timeout` seconds. Output is capped like every tool's,
with ANSI escapes and carriage-return overwrites removed, so the model reads plain text.

Sessions live in `ctx.sessions["interactive"]` for one step: the engine calls
`close_sessions(ctx.sessions)` when the step ends. If agentctl dies, the terminal closes and
the reaper kills the session's processes.

The tool is not in the default tool set (`build_toolbox(..., names=None)`): a recipe gets it
only by naming it, since a session outlives one call.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import re
import signal
import time
from dataclasses import dataclass, field
from typing import Any

from agentctl.process import reaper
from agentctl.process.run import (
    KILL_GRACE_S,
    REAPER_STOP_S,
    CappedBuffer,
    cap_output,
    process_limits,
)
from agentctl.tools.base import ToolContext, ToolResult, ToolSpec, Touches
from agentctl.tools.function import (
    FunctionTool,
    build_object_schema,
    describe_param,
    fail,
)
from agentctl.tools.shell import context_env, sandbox_for

SESSIONS_KEY = "interactive"
ACTIONS = ("start", "send", "read", "close")
MAX_SESSIONS = 8
DEFAULT_WAIT_S = 10.0
SETTLE_S = 0.5  # without `expect`, a read ends after this long without output
TERMINAL_SIZE = (40, 200)  # rows, columns
MATCH_WINDOW = 256 * 1024  # how much recent text `expect` is matched against
READ_CHUNK = 64 * 1024

# CSI sequences, OSC strings (ended by BEL or ST), and other two-byte escapes.
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def strip_terminal(text: str) -> str:
    """Plain text from terminal output: no escapes, `\\r\\n` as `\\n`, `\\r` overwrites."""
    text = ANSI.sub("", text).replace("\r\n", "\n")
    lines = [
        line.rsplit("\r", 1)[-1] if "\r" in line.rstrip("\r") else line.rstrip("\r")
        for line in text.split("\n")
    ]
    return CONTROL.sub("", "\n".join(lines))


@dataclass
class Session:
    name: str
    command: str
    child: Any  # pexpect.spawn
    confinement: str
    started: float = field(default_factory=time.monotonic)


def _sessions(ctx: ToolContext) -> dict[str, Session]:
    sessions: dict[str, Session] = ctx.sessions.setdefault(SESSIONS_KEY, {})
    return sessions


def _collect(
    session: Session, *, pattern: re.Pattern[str] | None, timeout: float, ctx: ToolContext
) -> tuple[str, bool, str]:
    """Read the session's output; return (text, truncated, how it ended).

    How: "matched", "settled" (quiet, no pattern), "timeout", "eof" or "cancelled".
    """
    import pexpect

    raw = CappedBuffer(ctx.output_cap)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    window = ""
    started = last_data = time.monotonic()
    deadline = started + max(timeout, 0)
    how = "timeout"
    while True:
        if ctx.cancel.is_set():
            how = "cancelled"
            break
        now = time.monotonic()
        if now >= deadline:
            how = "timeout" if pattern is not None else "settled"
            break
        try:
            data = session.child.read_nonblocking(READ_CHUNK, timeout=min(0.05, deadline - now))
        except pexpect.TIMEOUT:
            if pattern is None and time.monotonic() - last_data >= SETTLE_S:
                how = "settled"
                break
            continue
        except pexpect.EOF:
            how = "eof"
            break
        last_data = time.monotonic()
        raw.add(data)
        if pattern is not None:
            window = (window + strip_terminal(decoder.decode(data)))[-MATCH_WINDOW:]
            if pattern.search(window):
                how = "matched"
                break
    text, truncated = raw.text()
    text, cut = cap_output(strip_terminal(text), ctx.output_cap)
    return text, truncated or cut, how


def stop_session(session: Session) -> int | None:
    """End a session and everything it started; return its exit code (negative: signal)."""
    child = session.child
    if child.isalive():
        try:
            os.kill(child.pid, signal.SIGTERM)  # the reaper stops the whole tree
        except ProcessLookupError:
            pass
        end = time.monotonic() + KILL_GRACE_S + REAPER_STOP_S
        while child.isalive() and time.monotonic() < end:
            time.sleep(0.02)
        if child.isalive():
            reaper.kill_tree(child.pid, signal.SIGKILL)
    child.close(force=True)
    # pexpect's statuses are untyped: what the child's wait() said.
    signalled: int | None = child.signalstatus
    exited: int | None = child.exitstatus
    return -signalled if signalled is not None else exited


def close_sessions(sessions: dict[str, Any]) -> None:
    """Close every interactive session in a step's `ctx.sessions`; safe to call again."""
    for session in list((sessions.get(SESSIONS_KEY) or {}).values()):
        with contextlib.suppress(Exception):  # closing one must not keep others open
            stop_session(session)
    sessions.pop(SESSIONS_KEY, None)


def _finish(
    session: Session,
    ctx: ToolContext,
    text: str,
    truncated: bool,
    how: str,
    pattern: re.Pattern[str] | None,
    timeout: float,
) -> ToolResult:
    """Turn a read into the ToolResult the model sees."""
    if how == "eof":
        code = stop_session(session)
        _sessions(ctx).pop(session.name, None)
        note = f"[session {session.name!r} ended; exit code {code}]"
        ok = pattern is None
        return ToolResult(
            ok=ok,
            output=_with_note(text, note),
            exit_code=code,
            truncated=truncated,
            error=None if ok else "session_ended",
        )
    if how == "cancelled":
        return ToolResult(
            ok=False, output=_with_note(text, "[cancelled]"), truncated=truncated, error="cancelled"
        )
    if how == "timeout":
        note = (
            (
                f"[no match for /{pattern.pattern}/ within {timeout:g}s; session "
                f"{session.name!r} is still running]"
            )
            if pattern is not None
            else ""
        )
        return ToolResult(
            ok=False, output=_with_note(text, note), truncated=truncated, error="timeout"
        )
    return ToolResult(ok=True, output=text, truncated=truncated)


def _with_note(text: str, note: str) -> str:
    if not note:
        return text
    return (text if not text or text.endswith("\n") else text + "\n") + note


def _start(
    args: dict[str, Any],
    ctx: ToolContext,
    name: str,
    pattern: re.Pattern[str] | None,
    timeout: float,
) -> ToolResult:
    import pexpect

    command = (args.get("command") or "").strip()
    if not command:
        return fail("action 'start' needs 'command'", "bad_args")
    sessions = _sessions(ctx)
    if name in sessions:
        return fail(
            f"session {name!r} is already running; send to it, close it, or pick another name",
            "session_exists",
        )
    if len(sessions) >= MAX_SESSIONS:
        return fail(
            f"at most {MAX_SESSIONS} sessions may run at once; close one first", "too_many_sessions"
        )
    if not ctx.workspace.is_dir():
        return fail(f"workspace {ctx.workspace} does not exist", "no_workspace")
    sandbox = sandbox_for(ctx)
    if sandbox.refusal is not None:
        return fail(sandbox.refusal, "sandbox_unavailable")
    env = context_env(ctx)
    # The session's own pty stays its terminal (no new session, no process group of its
    # own); no CPU limit and no death signal: a session may live as long as its step.
    argv = sandbox.argv(
        command,
        workspace=ctx.workspace,
        env=env,
        rlimits=process_limits(None),
        pgroup=False,
        deathsig=False,
        new_session=False,
        grace=KILL_GRACE_S,
    )
    try:
        child = pexpect.spawn(
            argv[0], argv[1:], cwd=str(ctx.workspace), env=env, echo=False, dimensions=TERMINAL_SIZE
        )
    except (pexpect.ExceptionPexpect, OSError) as exc:
        return fail(f"cannot start {command!r}: {exc}", "start_failed")
    session = Session(name, command, child, sandbox.kind)
    sessions[name] = session
    return _finish(
        session,
        ctx,
        *_collect(session, pattern=pattern, timeout=timeout, ctx=ctx),
        pattern,
        timeout,
    )


def run_interactive(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    action = args["action"]
    if action not in ACTIONS:
        return fail(
            f"unknown action {action!r} (expected one of: {', '.join(ACTIONS)})", "bad_args"
        )
    name = args.get("session") or "default"
    timeout = min(max(float(args.get("timeout", DEFAULT_WAIT_S)), 0.0), ctx.timeout)
    pattern = None
    if args.get("expect"):
        try:
            pattern = re.compile(args["expect"])
        except re.error as exc:
            return fail(f"'expect' is not a valid regular expression: {exc}", "bad_args")
    if action == "start":
        return _start(args, ctx, name, pattern, timeout)
    session = _sessions(ctx).get(name)
    if session is None:
        known = ", ".join(repr(n) for n in _sessions(ctx)) or "none"
        return fail(f"no session {name!r} (running: {known}); start it first", "no_session")
    if action == "close":
        text, truncated, _how = _collect(session, pattern=None, timeout=0.2, ctx=ctx)
        code = stop_session(session)
        _sessions(ctx).pop(name, None)
        return ToolResult(
            ok=True,
            output=_with_note(text, f"[session {name!r} closed]"),
            exit_code=code,
            truncated=truncated,
        )
    if action == "send":
        if args.get("input") is None:
            return fail("action 'send' needs 'input'", "bad_args")
        text = args["input"] + ("\n" if args.get("newline", True) else "")
        if not session.child.isalive():
            return _finish(session, ctx, "", False, "eof", pattern, timeout)
        session.child.send(text.encode())
    return _finish(
        session,
        ctx,
        *_collect(session, pattern=pattern, timeout=timeout, ctx=ctx),
        pattern,
        timeout,
    )


def build_interactive_tool() -> FunctionTool:
    spec = ToolSpec(
        "interactive",
        "Drive an interactive program (REPL, debugger, prompt) in a terminal session that "
        "stays open across calls in this step. action=start runs `command` (bash) in the "
        "workspace; send types `input` (Enter added unless newline=false; \\u0003 is Ctrl-C); "
        "read returns new output; close ends the session. Output is returned until `expect` "
        "(a regex) matches, else until the program is quiet briefly, at most `timeout` s.",
        build_object_schema(
            {
                "action": describe_param(
                    "string", "start | send | read | close", enum=list(ACTIONS)
                ),
                "session": describe_param("string", "Session name.", default="default"),
                "command": describe_param("string", "Command line to run (start)."),
                "input": describe_param("string", "Text to type (send)."),
                "newline": describe_param("boolean", "Press Enter after input.", default=True),
                "expect": describe_param("string", "Regex: read until the output matches it."),
                "timeout": describe_param(
                    "number", "Seconds to wait for output.", default=DEFAULT_WAIT_S
                ),
            },
            ["action"],
        ),
        read_only=False,
        # Its `command` is typed into a terminal over several calls: the policy looks for
        # paths in every argument rather than reading it as one bash command line, and
        # decides what is started and typed as shell commands.
        touches=Touches(processes=True, terminal=True),
    )
    return FunctionTool(spec, run_interactive)
