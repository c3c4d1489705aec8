"""The MCP client side of a run: start a recipe's servers, list their tools, call them.

This is the only module that imports the `mcp` SDK (the `agentctl-jobs[mcp]` extra), and it does
so lazily, when a run or `agentctl mcp tools` first starts a server: `agentctl jobs` and every
recipe without `mcp:` never pay for it.

The SDK is asynchronous and the engine is not, so an McpHub runs one event loop in a thread
of its own; each server is held open by one task there (the SDK's context managers must be
entered and left by the same task) and the engine's calls are sent to it and waited for
with a timeout and the job's cancel event.

A stdio server runs like a shell tool (`agentctl.process`): under bubblewrap when the policy's
`sandbox:` says so (the workspace writable, the rest read-only, network only if the policy
allows, the job database hidden), under the reaper (its whole process tree dies with the
run), in the workspace, with the minimal environment plus the names the recipe lists in the
server's `env:`. Its stderr is read into a bounded tail, shown when it fails. A remote
server's headers are rendered from the environment and never logged; a 401/403 names the
header to fix.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import shlex
import threading
import time
import urllib.parse
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from agentctl.errors import UsageError
from agentctl.process import program_files
from agentctl.process.bwrap import home_folders
from agentctl.process.confine import resolve_sandbox
from agentctl.process.run import (
    minimal_env,
    process_limits,
    with_absolute_path,
)
from agentctl.process.sandbox import SandboxSettings
from agentctl.process.sandbox_user import root_only_paths
from agentctl.tools.base import ToolResult
from agentctl.tools.mcp_output import StderrTail, describe_error, fail, format_result, indent
from agentctl.tools.mcp_tools import HEADER_ENV_NAME, ListedTool

DEFAULT_START_TIMEOUT = 30.0
# Variables the SDK adds to a stdio server's environment by itself; unset unless listed.
_SDK_ENV = ("LOGNAME", "SHELL", "USER")
_T = TypeVar("_T")
# After its own timeout a call gets this long to come back before it is abandoned.
CALL_GRACE_S = 5.0
POLL_S = 0.1


class McpStartError(UsageError):
    """A server could not be started or reached: bad input, exit 2, before any step runs."""


@dataclass
class ServerLaunch:
    """Everything needed to start one server, resolved for this run (secrets included)."""

    name: str
    argv: list[str] | None = None  # stdio
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)
    url: str | None = None  # streamable HTTP
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None

    @property
    def host(self) -> str | None:
        if self.url is None:
            return None
        return (urllib.parse.urlsplit(self.url).hostname or "").lower() or None

    def describe(self) -> str:
        return self.url if self.url is not None else shlex.join(self.argv or [])


def render_headers(headers: Mapping[str, str], env: Mapping[str, str]) -> dict[str, str]:
    """Header values with `{{ env.NAME }}` replaced by the variable's value."""
    return {
        key: HEADER_ENV_NAME.sub(lambda m: env.get(m.group(1), ""), value)
        for key, value in headers.items()
    }


def plan_servers(
    servers: Mapping[str, Any],
    *,
    env: Mapping[str, str],
    workspace: Path,
    sandbox: SandboxSettings | None = None,
) -> dict[str, ServerLaunch]:
    """ServerLaunch for each of a recipe's `mcp:` servers (duck-typed recipe.McpServer)."""
    plans = {}
    for name, server in servers.items():
        if server.url is not None:
            plans[name] = ServerLaunch(
                name,
                url=server.url,
                headers=render_headers(server.headers, env),
                timeout=server.timeout,
            )
            continue
        plans[name] = ServerLaunch(
            name,
            argv=server.argv(),
            env=minimal_env(server.env, env),
            cwd=workspace,
            sandbox=sandbox or SandboxSettings(),
            timeout=server.timeout,
        )
    return plans


def program_paths(program: str, path: str, hidden: list[str] | None = None) -> tuple[Path, ...]:
    """What a server's program needs (its installation, interpreter, venv base, libraries),
    shown read-only in the sandbox where a home (or `hidden`) hides it:
    `agentctl.process.program_files`."""
    return program_files.program_paths(program, path, hidden or home_folders())


def _server_files(plan: ServerLaunch, env: Mapping[str, str]) -> tuple[Path, ...]:
    search = env.get("PATH", "")
    hidden = home_folders() + root_only_paths(str(plan.cwd or "/"), search)
    return program_files.server_files(plan.argv or [""], search, hidden)


def stdio_argv(plan: ServerLaunch) -> tuple[list[str], dict[str, str], str]:
    """(argv, environment, how it is confined) for a stdio server; raise if it must not run."""
    sandbox = resolve_sandbox(plan.sandbox)
    if sandbox.refusal is not None:
        raise McpStartError(
            f"MCP server {plan.name} was not started: {sandbox.refusal}",
            "install bubblewrap, or set `sandbox: preferred` in the policy",
        )
    env = with_absolute_path(plan.env)
    if sandbox.confined:
        env["HOME"] = "/tmp"  # HOME is read-only in the sandbox; its /tmp is private
    unset = [n for n in _SDK_ENV if n not in env]
    command = (
        (f"unset {' '.join(unset)}; " if unset else "") + "exec " + shlex.join(plan.argv or [])
    )
    # Exactly as a shell tool is confined (agentctl.process.run.run_process): bubblewrap with
    # the seccomp filter, under the reaper; only the CPU limit is left out (it lives long).
    wrapped = sandbox.argv(
        command,
        workspace=plan.cwd,
        env=env,
        rlimits=process_limits(None),
        also_visible=_server_files(plan, env),
    )
    return wrapped, env, sandbox.kind


def _sandbox_advice(plan: ServerLaunch, text: str, message: str, hint: str) -> tuple[str, str]:
    """The error and hint for a confined server that failed, naming what the sandbox hid."""
    folders = home_folders() + root_only_paths(str(plan.cwd or "/"), plan.env.get("PATH", ""))
    shown = [*plan.sandbox.visible_paths, *_server_files(plan, plan.env)]
    advice = program_files.sandbox_advice(plan.name, text, folders, [str(p) for p in shown])
    return (message + advice[0], advice[1]) if advice else (message, hint)


@dataclass
class _Server:
    plan: ServerLaunch
    ready: concurrent.futures.Future[bool]
    closing: asyncio.Event | None = None
    client: Any = None  # the SDK's connected mcp.Client (imported lazily, so untyped here)
    task: concurrent.futures.Future[None] | None = None
    stderr: StderrTail | None = None
    dead: str | None = None  # why the server is gone, once it is
    status: int | None = None  # the last HTTP status a remote server answered
    confinement: str = "none"


class McpHub:
    """The MCP servers of one run (or one `agentctl mcp tools`), started once, closed once."""

    def __init__(self, plans: Mapping[str, ServerLaunch]):
        self.plans = dict(plans)
        self.servers: dict[str, _Server] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # -- the event loop ------------------------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            _import_sdk()
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, daemon=True, name="mcp-hub")
            thread.start()
            self._loop, self._thread = loop, thread
        return self._loop

    def _submit(self, coro: Coroutine[Any, Any, _T]) -> concurrent.futures.Future[_T]:
        return asyncio.run_coroutine_threadsafe(coro, self._ensure_loop())

    # -- starting ------------------------------------------------------------------------

    def start(self, names: list[str]) -> None:
        """Start the named servers (those not started yet) at once; raise McpStartError
        naming the first that fails, with the tail of its stderr, after closing them all."""
        wanted = [n for n in dict.fromkeys(names) if n not in self.servers]
        for name in wanted:
            plan = self.plans[name]
            server = _Server(plan, concurrent.futures.Future())
            self.servers[name] = server
            if plan.argv is not None:
                try:
                    argv, env, server.confinement = stdio_argv(plan)
                except McpStartError:
                    self.close()
                    raise
                server.stderr = StderrTail()
                server.task = self._submit(self._hold_stdio(server, argv, env))
            else:
                server.task = self._submit(self._hold_http(server))
        for name in wanted:
            server = self.servers[name]
            limit = server.plan.timeout or DEFAULT_START_TIMEOUT
            try:
                server.ready.result(timeout=limit)
            except concurrent.futures.TimeoutError:
                error = self._start_error(server, f"it did not answer within {limit:g}s")
                self.close()
                raise error from None
            except BaseException as exc:
                error = self._start_error(server, describe_error(exc))
                self.close()
                raise error from None

    def _start_error(self, server: _Server, why: str) -> McpStartError:
        plan = server.plan
        if server.status in (401, 403):
            return McpStartError(
                f"MCP server {plan.name} ({plan.url}) answered HTTP {server.status}:"
                f" {auth_advice(plan)}",
                f"fix mcp.{plan.name}.headers in the recipe (or the variable it uses), then run again",
            )
        tail = server.stderr.text() if server.stderr else ""
        # The reaper's own start-up lines are not the server's.
        message = f"MCP server {plan.name} failed to start ({plan.describe()}): {why}"
        if tail:
            message += "\nits stderr ends with:\n" + indent(tail[-1500:])
        hint = f"check mcp.{plan.name} in the recipe; run the command by hand to see more"
        if server.confinement == "bwrap":
            message, hint = _sandbox_advice(plan, f"{why}\n{tail}", message, hint)
        return McpStartError(message, hint)

    async def _hold(self, server: _Server, client: Any) -> None:
        from mcp import Client

        server.closing = asyncio.Event()
        async with Client(client, cache=None) as connected:
            server.client = connected
            server.ready.set_result(True)
            await server.closing.wait()

    async def _hold_stdio(self, server: _Server, argv: list[str], env: dict[str, str]) -> None:
        from mcp import StdioServerParameters
        from mcp.client.stdio import stdio_client

        params = StdioServerParameters(
            command=argv[0], args=argv[1:], env=env, cwd=str(server.plan.cwd)
        )
        assert server.stderr is not None
        try:
            await self._hold(server, stdio_client(params, errlog=server.stderr.writer))
        except BaseException as exc:
            self._gone(server, exc)
        finally:
            self._gone(server, None)

    async def _hold_http(self, server: _Server) -> None:
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        plan = server.plan

        async def remember(response: Any) -> None:
            server.status = response.status_code

        timeout = plan.timeout or DEFAULT_START_TIMEOUT
        http = httpx2.AsyncClient(
            headers=plan.headers,
            timeout=httpx2.Timeout(timeout, read=max(timeout, 300.0)),
            event_hooks={"response": [remember]},
        )
        try:
            async with http:
                await self._hold(server, streamable_http_client(plan.url or "", http_client=http))
        except BaseException as exc:
            self._gone(server, exc)
        finally:
            self._gone(server, None)

    def _gone(self, server: _Server, exc: BaseException | None) -> None:
        if exc is not None and not server.ready.done():
            server.ready.set_exception(exc if isinstance(exc, Exception) else RuntimeError(exc))
        elif not server.ready.done():
            server.ready.set_exception(RuntimeError("the server closed the connection"))
        if server.dead is None:
            server.dead = describe_error(exc) if exc is not None else "it closed the connection"
        server.client = None

    # -- using ---------------------------------------------------------------------------

    def list_tools(self, name: str) -> list[ListedTool]:
        """Every tool the server offers now (all pages)."""
        server = self.servers[name]

        async def listing() -> list[ListedTool]:
            tools: list[ListedTool] = []
            cursor = None
            for _ in range(100):
                page = await server.client.list_tools(cursor=cursor)
                for tool in page.tools:
                    annotations = tool.annotations
                    tools.append(
                        ListedTool(
                            name,
                            tool.name,
                            tool.description or "",
                            dict(tool.input_schema or {}),
                            annotations.model_dump(exclude_none=True) if annotations else None,
                        )
                    )
                cursor = page.next_cursor
                if not cursor:
                    break
            return tools

        limit = server.plan.timeout or DEFAULT_START_TIMEOUT
        try:
            return self._submit(listing()).result(timeout=limit)
        except concurrent.futures.TimeoutError:
            raise self._start_error(server, f"listing its tools took over {limit:g}s") from None
        except Exception as exc:
            raise self._start_error(
                server, f"listing its tools failed: {describe_error(exc)}"
            ) from None

    def call(
        self,
        name: str,
        tool: str,
        args: dict[str, Any],
        *,
        timeout: float,
        cancel: threading.Event | None = None,
        output_cap: int = 64 * 1024,
    ) -> ToolResult:
        """Call one tool; every failure is a ToolResult the model can read, never a raise."""
        server = self.servers.get(name)
        if server is None or server.client is None:
            why = server.dead if server is not None and server.dead else "it is not running"
            stderr = server.stderr if server is not None else None
            return fail(f"MCP server {name} is not available: {why}", "server_down", stderr)
        client = server.client

        async def calling() -> Any:
            return await client.call_tool(tool, args, read_timeout_seconds=timeout)

        future = self._submit(calling())
        deadline = time.monotonic() + timeout + CALL_GRACE_S
        while True:
            try:
                result = future.result(timeout=POLL_S)
                break
            except concurrent.futures.TimeoutError:
                if cancel is not None and cancel.is_set():
                    future.cancel()
                    return ToolResult(ok=False, output="[cancelled]", error="cancelled")
                if time.monotonic() > deadline:
                    future.cancel()
                    return fail(
                        f"{name}.{tool} timed out after {timeout:g}s", "timeout", server.stderr
                    )
            except concurrent.futures.CancelledError:
                return ToolResult(ok=False, output="[cancelled]", error="cancelled")
            except Exception as exc:
                return self._call_error(server, tool, timeout, exc)
        return format_result(result, output_cap)

    def _call_error(
        self, server: _Server, tool: str, timeout: float, exc: BaseException
    ) -> ToolResult:
        name = server.plan.name
        text = describe_error(exc)
        if "timed out" in text.lower():
            return fail(f"{name}.{tool} timed out after {timeout:g}s", "timeout", server.stderr)
        if server.status in (401, 403):
            return fail(
                f"MCP server {name} answered HTTP {server.status}: {auth_advice(server.plan)}",
                "unauthorized",
                server.stderr,
            )
        if "connection closed" in text.lower() or server.client is None:
            server.dead = server.dead or f"it stopped during a call to {tool}"
            server.client = None  # started once per run: a crashed server stays down
            return fail(
                f"MCP server {name} stopped during {name}.{tool}: {text}", "crashed", server.stderr
            )
        return fail(f"{name}.{tool} failed: {text}", "mcp_error", server.stderr)

    def confinement(self, name: str) -> str:
        server = self.servers.get(name)
        return server.confinement if server else "none"

    # -- closing -------------------------------------------------------------------------

    def close(self) -> None:
        """Stop every server (stdin closed, then the process tree killed) and the loop."""
        loop = self._loop
        if loop is None:
            return
        for server in self.servers.values():
            if server.closing is not None:
                loop.call_soon_threadsafe(server.closing.set)
        for server in self.servers.values():
            if server.task is not None:
                try:
                    server.task.result(timeout=10)
                except BaseException:
                    server.task.cancel()
            if server.stderr is not None:
                server.stderr.close()
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._loop = self._thread = None

    def __enter__(self) -> McpHub:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def auth_advice(plan: ServerLaunch) -> str:
    if plan.headers:
        names = ", ".join(plan.headers)
        return f"the header {names} it was sent was refused; fix its value"
    return "it needs credentials: add an Authorization header under headers:"


def _import_sdk() -> None:
    try:
        import mcp  # noqa: F401
    except ImportError:
        raise UsageError(
            "this recipe uses MCP servers (mcp:), but the MCP SDK is not installed",
            "install it with: pip install 'agentctl-jobs[mcp]'",
        ) from None


__all__ = [
    "McpHub",
    "McpStartError",
    "ServerLaunch",
    "plan_servers",
    "render_headers",
]
