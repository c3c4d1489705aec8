"""MCP servers as tools, below the CLI: names, recipe and policy fields, pins, and the hub
against real servers (the MCP project's mcp-server-git and mcp-server-time over stdio, and
tests/mcp_testserver.py, built with the official SDK, over stdio and streamable HTTP)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import agentctl_env

from agentctl.errors import RecipeError
from agentctl.policy.rules import PolicySet, load_policy_text
from agentctl.process.run import minimal_env
from agentctl.process.sandbox import SandboxSettings, probe_confinement
from agentctl.recipe.load import load_recipe_text
from agentctl.tools.mcp_client import McpHub, McpStartError, ServerLaunch
from agentctl.tools.mcp_tools import compare_pins, model_name, pin_hash, selects

HERE = Path(__file__).parent
TESTSERVER = [sys.executable, str(HERE / "mcp_testserver.py")]
GIT_SERVER = [sys.executable, "-m", "mcp_server_git", "--repository", "."]
TIME_SERVER = [sys.executable, "-m", "mcp_server_time"]
# The sandbox has a private /tmp: a venv or a checkout under /tmp (a CI clone) is invisible
# inside it, so the test server could not start there.
VISIBLE_IN_SANDBOX = not any(
    os.path.realpath(p).startswith("/tmp/") for p in (sys.prefix, str(HERE))
)
needs_sandbox = pytest.mark.skipif(
    not (probe_confinement().available and VISIBLE_IN_SANDBOX),
    reason="needs bubblewrap, and the venv and tests outside /tmp",
)


# -- names ------------------------------------------------------------------------------------


def test_model_names_fit_providers_and_never_collide():
    pattern = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
    assert model_name("git", "git_status") == "git__git_status"
    odd = model_name("docs", "search.v2/all tools")
    assert pattern.match(odd) and odd.startswith("docs__search_v2_all_tools")
    long = model_name("a-server", "t" * 200)
    assert pattern.match(long) and len(long) == 64
    assert model_name("a-server", "t" * 200) != model_name("a-server", "t" * 201)
    taken = {model_name("a", "b__c")}
    other = model_name("a__b", "c", taken)  # would also be a__b__c
    assert pattern.match(other) and other not in taken


def test_tools_patterns_select_by_server_glob():
    assert selects(["git.*"], "git", "git_status")
    assert selects(["git.git_status"], "git", "git_status")
    assert not selects(["git.git_status"], "git", "git_log")
    assert not selects(["read_file", "docs.*"], "git", "git_status")


def test_pins_change_with_description_or_schema_and_the_diff_names_the_tool():
    schema = {"type": "object", "properties": {"key": {"type": "string"}}}
    before = {
        "lookup": {
            "hash": pin_hash("lookup", "Look up.", schema),
            "description": "Look up.",
            "input_schema": schema,
        }
    }
    same = compare_pins("t", before, dict(before))
    assert not same and not same.diff
    schema2 = {**schema, "properties": {**schema["properties"], "send_to": {"type": "string"}}}
    after = {
        "lookup": {
            "hash": pin_hash("lookup", "Look up.", schema2),
            "description": "Look up.",
            "input_schema": schema2,
        }
    }
    change = compare_pins("t", before, after)
    assert change and change.changed == ["lookup"]
    assert "t.lookup (pinned)" in change.diff and '+      "send_to"' in change.diff


# -- recipe and policy ---------------------------------------------------------------------------

RECIPE = """
version: 1
name: m
mcp:
  git:
    command: [uvx, mcp-server-git, --repository, .]
    env: [GITHUB_TOKEN]
    read_only: [git_status, git_log]
  docs:
    url: https://mcp.example.com/mcp
    env: [DOCS_TOKEN]
    headers: {Authorization: "Bearer {{ env.DOCS_TOKEN }}"}
    timeout: 30s
  time:
    command: mcp-server-time --local-timezone UTC
steps:
  - id: triage
    agent:
      instructions: go
      tools: [read_file, git.git_status, git.git_log, docs.*]
"""


def test_recipe_mcp_section_parses_both_transports():
    recipe = load_recipe_text(RECIPE, "r.yaml").recipe
    assert recipe.mcp["git"].argv() == ["uvx", "mcp-server-git", "--repository", "."]
    assert recipe.mcp["time"].argv() == ["mcp-server-time", "--local-timezone", "UTC"]
    assert recipe.mcp["docs"].timeout == 30
    assert recipe.mcp_servers_for(recipe.steps[0].agent) == ["git", "docs"]


@pytest.mark.parametrize(
    "change,message",
    [
        (("  git:\n", "  Git:\n"), "must match [a-z][a-z0-9_-]*"),
        (("git.git_log, docs.*", "git.git_log, nope.*"), 'MCP server "nope"'),
        (("    env: [DOCS_TOKEN]\n", ""), "does not list"),
        (("    url: https://mcp.example.com/mcp\n", "    url: ftp://x\n"), "http(s)"),
        (("    timeout: 30s\n", "    timeout: 30s\n    command: [x]\n"), "exactly one of"),
        (('"Bearer {{ env.DOCS_TOKEN }}"', '"{{ params.x }}"'), "only use {{ env.NAME }}"),
    ],
)
def test_recipe_mcp_mistakes_are_errors_with_a_position(change, message):
    with pytest.raises(RecipeError) as caught:
        load_recipe_text(RECIPE.replace(*change), "r.yaml")
    assert message in caught.value.message
    assert caught.value.line is not None


POLICY = """
version: 1
name: mcp-rules
default: ask
read_only: [git.git_status]
rules:
  - {id: git-reads, tools: ["git.git_status", "git.git_log"], decision: allow}
  - {id: git-writes, tools: ["git.git_commit", "git.git_reset"], decision: deny}
  - {id: docs-host, tools: ["docs.*"], hosts: [mcp.example.com], decision: allow}
"""


def test_policy_decides_mcp_tools_by_name_and_remote_host(tmp_path):
    policy = PolicySet([load_policy_text(POLICY, "p.yaml")])
    decide = lambda tool, host=None: policy.decide(tool, {}, workspace=tmp_path, host=host)  # noqa: E731
    assert decide("git.git_status").decision == "allow"
    assert decide("git.git_commit").decision == "deny"
    assert decide("git.git_add").decision == "ask"  # the default
    assert decide("docs.search", "mcp.example.com").decision == "allow"
    assert decide("docs.search", "evil.example.net").decision == "ask"
    # A loopback server the recipe names is matched by hosts:, not refused as an SSRF target.
    assert decide("docs.search", "127.0.0.1").decision == "ask"
    assert policy.declares_read_only("git.git_status")
    assert not policy.declares_read_only("git.git_log")


# -- the hub against real servers -------------------------------------------------------------


def stdio(
    name: str, argv: list[str], cwd: Path, sandbox: str = "off", network: bool = True, **extra
) -> ServerLaunch:
    env = extra.pop("env", None) or minimal_env()
    settings = SandboxSettings(sandbox, network=network)
    return ServerLaunch(name, argv=argv, env=env, cwd=cwd, sandbox=settings, **extra)


@pytest.fixture
def repo(workspace) -> Path:
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    (workspace / "a.txt").write_text("one\n")
    subprocess.run([*git, "-C", str(workspace), "add", "a.txt"], check=True)
    subprocess.run([*git, "-C", str(workspace), "commit", "-qm", "first commit"], check=True)
    return workspace


@pytest.mark.slow
def test_reference_servers_list_and_call_over_stdio(repo):
    plans = {"git": stdio("git", GIT_SERVER, repo), "time": stdio("time", TIME_SERVER, repo)}
    with McpHub(plans) as hub:
        hub.start(["git", "time"])
        git_tools = {t.name: t for t in hub.list_tools("git")}
        assert {"git_status", "git_log", "git_commit"} <= set(git_tools)
        assert git_tools["git_status"].input_schema["properties"]["repo_path"]
        (repo / "b.txt").write_text("new\n")
        status = hub.call("git", "git_status", {"repo_path": str(repo)}, timeout=30)
        assert status.ok and "b.txt" in status.output
        log = hub.call("git", "git_log", {"repo_path": str(repo)}, timeout=30)
        assert log.ok and "first commit" in log.output
        now = hub.call("time", "get_current_time", {"timezone": "UTC"}, timeout=30)
        assert now.ok and json.loads(now.output)["timezone"] == "UTC"
        bad = hub.call("time", "get_current_time", {"timezone": "Not/AZone"}, timeout=30)
        assert not bad.ok and bad.error == "tool_error"


@pytest.mark.slow
def test_crash_hang_and_flood_are_tool_errors_and_results_are_capped(workspace):
    with McpHub({"t": stdio("t", TESTSERVER, workspace)}) as hub:
        hub.start(["t"])
        flood = hub.call("t", "flood", {"size": 5_000_000}, timeout=30, output_cap=10_000)
        assert flood.ok and flood.truncated and len(flood.output.encode()) <= 10_000
        assert flood.output.endswith("END") and "bytes omitted" in flood.output
        shout = hub.call("t", "shout", {"size": 20_000_000}, timeout=60)
        assert shout.ok and shout.output == "shouted"
        deadline = time.monotonic() + 20  # the reader thread may still be catching up
        while not hub.servers["t"].stderr.text().endswith("LAST-ERR"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        kept = hub.servers["t"].stderr.text()  # only a bounded tail of a flooding stderr
        assert len(kept) <= 4096 and kept.endswith("LAST-ERR")
        picture = hub.call("t", "picture", {}, timeout=30)
        assert picture.ok and "a picture follows" in picture.output
        assert "[image image/png, 400 bytes: not shown to the model]" in picture.output
        assert (
            "binary resource file:///data.bin" in picture.output and "5000 bytes" in picture.output
        )
        started = time.monotonic()
        hung = hub.call("t", "hang", {"seconds": 60}, timeout=1)
        assert not hung.ok and hung.error == "timeout" and time.monotonic() - started < 10
        crashed = hub.call("t", "crash", {}, timeout=30)
        assert not crashed.ok and crashed.error == "crashed" and "t.crash" in crashed.output
        after = hub.call("t", "append", {"text": "x"}, timeout=30)
        assert not after.ok and after.error == "server_down"


@pytest.mark.slow
def test_cancel_stops_a_call(workspace):
    cancel = threading.Event()
    with McpHub({"t": stdio("t", TESTSERVER, workspace)}) as hub:
        hub.start(["t"])
        threading.Timer(0.5, cancel.set).start()
        started = time.monotonic()
        result = hub.call("t", "hang", {"seconds": 60}, timeout=60, cancel=cancel)
        assert result.error == "cancelled" and time.monotonic() - started < 10


@pytest.mark.slow
def test_a_server_that_fails_to_start_is_named_with_its_stderr(workspace):
    plans = {
        "broken": stdio("broken", [*TESTSERVER, "--stderr", "no config at /etc/x.toml"], workspace)
    }
    hub = McpHub(plans)
    with pytest.raises(McpStartError) as caught:
        hub.start(["broken"])
    assert caught.value.exit_code == 2
    assert "MCP server broken failed to start" in caught.value.message
    assert "no config at /etc/x.toml" in caught.value.message
    missing = McpHub({"gone": stdio("gone", ["/nonexistent/mcp-server"], workspace)})
    with pytest.raises(McpStartError, match="MCP server gone failed to start"):
        missing.start(["gone"])


@pytest.mark.slow
def test_a_stdio_server_gets_the_minimal_environment_plus_its_listed_names(workspace):
    source = {"PATH": os.environ["PATH"], "LISTED": "yes-listed", "SECRET": "sk-not-listed"}
    plan = stdio("t", TESTSERVER, workspace, env=minimal_env(["LISTED"], source))
    with McpHub({"t": plan}) as hub:
        hub.start(["t"])
        get = lambda name: hub.call("t", "getenv", {"name": name}, timeout=30).output  # noqa: E731
        assert get("LISTED") == "yes-listed"
        assert get("SECRET") == "<unset>"
        assert get("USER") == "<unset>" and get("SHELL") == "<unset>"


@pytest.mark.slow
def test_closing_the_hub_kills_the_server_process_tree(workspace):
    with McpHub({"t": stdio("t", TESTSERVER, workspace)}) as hub:
        hub.start(["t"])
        pid = int(hub.call("t", "whoami", {}, timeout=30).output.split()[0])
        assert os.path.exists(f"/proc/{pid}")
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{pid}")


@pytest.mark.slow
@needs_sandbox
def test_a_stdio_server_runs_in_the_sandbox(workspace, tmp_path):
    # Not under /tmp, which the sandbox replaces with a private one: a real, writable folder.
    outside = HERE.parent / f".mcp-escape-{os.getpid()}.txt"
    plan = stdio("t", TESTSERVER, workspace, sandbox="required", network=False)
    with McpHub({"t": plan}) as hub:
        hub.start(["t"])
        assert hub.confinement("t") == "bwrap"
        inside = hub.call("t", "write_outside", {"path": str(workspace / "in.txt")}, timeout=30)
        assert inside.output == "written" and (workspace / "in.txt").exists()
        try:
            refused = hub.call("t", "write_outside", {"path": str(outside)}, timeout=30)
            assert refused.output.startswith("refused") and "Read-only" in refused.output
            assert not outside.exists()
        finally:
            outside.unlink(missing_ok=True)


@pytest.mark.slow
@needs_sandbox
@pytest.mark.skipif(
    not probe_confinement().network_isolation, reason="bubblewrap cannot cut the network here"
)
def test_a_confined_server_reaches_the_network_only_if_the_policy_allows(workspace):
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    try:
        for network, expected in ((False, "refused"), (True, "connected")):
            plan = stdio("t", TESTSERVER, workspace, sandbox="required", network=network)
            with McpHub({"t": plan}) as hub:
                hub.start(["t"])
                result = hub.call("t", "connect", {"port": port}, timeout=30)
                assert result.output.startswith(expected), (network, result.output)
    finally:
        listener.close()


def test_the_approval_for_changed_tools_shows_the_diff():
    from rich.console import Console

    from agentctl.ui.approval_panel import render_approval

    request = {
        "request": "r9",
        "step": "second",
        "tool": None,
        "reason": "MCP server t changed t.lookup since this job pinned its tools",
        "args": {
            "server": "t",
            "changed": ["t.lookup"],
            "added": [],
            "diff": '--- t.lookup (pinned)\n+++ t.lookup (now)\n+  "send_to": {}',
        },
    }
    console = Console(record=True, width=100)
    console.print(render_approval(request))
    text = console.export_text()
    assert "changed tool definitions of MCP server t" in text
    assert '+  "send_to": {}' in text and "human gate" not in text


def test_a_server_installed_in_a_home_folder_is_shown_but_not_the_home(tmp_path, monkeypatch):
    from agentctl.tools.mcp_client import program_paths

    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    for folder in (home / "proj" / ".venv" / "bin", home / "bin"):
        folder.mkdir(parents=True)
        (folder / "server").write_text("#!/bin/sh\n")
        (folder / "server").chmod(0o755)
    venv_bin = str(home / "proj" / ".venv" / "bin")
    assert program_paths("server", venv_bin) == (home / "proj" / ".venv",)
    assert program_paths("server", str(home / "bin")) == ()  # that would be the whole home
    assert program_paths("no-such-server", venv_bin) == ()


# -- streamable HTTP ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def http_server():
    """tests/mcp_testserver.py over streamable HTTP on 127.0.0.1, token `good-token-123`."""
    proc = subprocess.Popen(
        [*TESTSERVER, "--http", "0", "--token", "good-token-123"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    port = int(line.split()[1])
    deadline = time.monotonic() + 20
    import socket

    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}/mcp"
    proc.kill()
    proc.wait()


@pytest.mark.slow
def test_streamable_http_server_with_a_bearer_header(http_server):
    plan = ServerLaunch("docs", url=http_server, headers={"Authorization": "Bearer good-token-123"})
    assert plan.host == "127.0.0.1"
    with McpHub({"docs": plan}) as hub:
        hub.start(["docs"])
        assert "lookup" in {t.name for t in hub.list_tools("docs")}
        result = hub.call("docs", "lookup", {"key": "k"}, timeout=30)
        assert result.ok and result.output == "value of k"


@pytest.mark.slow
def test_http_401_names_the_header_to_fix(http_server):
    plan = ServerLaunch("docs", url=http_server, headers={"Authorization": "Bearer wrong"})
    with pytest.raises(McpStartError) as caught:
        McpHub({"docs": plan}).start(["docs"])
    assert "HTTP 401" in caught.value.message and "Authorization" in caught.value.message
    assert "wrong" not in caught.value.message  # the value is never shown
    assert "mcp.docs.headers" in caught.value.hint
    bare = ServerLaunch("docs", url=http_server)
    with pytest.raises(McpStartError, match="add an Authorization header"):
        McpHub({"docs": bare}).start(["docs"])


def test_mcp_tools_needs_a_recipe_with_servers(tmp_path):
    from typer.testing import CliRunner

    from agentctl.cli import app

    recipe = tmp_path / "plain.yaml"
    recipe.write_text("version: 1\nname: plain\nsteps:\n  - {id: a, run: echo}\n")
    result = CliRunner().invoke(app, ["mcp", "tools", str(recipe)])
    assert result.exit_code == 2
    assert "declares no MCP servers" in result.stderr


# -- laziness -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_agentctl_jobs_does_not_import_the_mcp_sdk(tmp_path):
    code = (
        "import sys\n"
        "from agentctl.cli import app\n"
        "app(['jobs', '--json'], standalone_mode=False)\n"
        "loaded = sorted(m for m in sys.modules if m == 'mcp' or m.startswith(('mcp.', 'mcp_types')))\n"
        "print('LOADED', loaded)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=agentctl_env(tmp_path / "db"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "LOADED []" in done.stdout


def test_mcp_tools_starts_servers_confined_as_the_job_would_be(tmp_path, monkeypatch):
    """`agentctl mcp tools` under a policy that allows no write starts the servers with the
    workspace mounted read-only, as a job under that policy would (it used to omit it)."""
    import agentctl.tools.mcp_client as mcp_client
    from agentctl.engine.mcp import describe_mcp_tools

    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "version: 1\nname: r\nmcp:\n  git:\n    command: [mcp-server-git]\n"
        "steps:\n  - id: a\n    run: 'true'\n"
    )
    policy = Path(__file__).parent.parent / "agentctl/shipped/policies/read-only.yaml"
    seen: list[SandboxSettings] = []

    class Stop(Exception):
        pass

    def plan_servers(servers, *, env, workspace, sandbox):  # type: ignore[no-untyped-def]
        seen.append(sandbox)
        raise Stop

    monkeypatch.setattr(mcp_client, "plan_servers", plan_servers)
    with pytest.raises(Stop):
        describe_mcp_tools(str(recipe), [str(policy)], workspace=tmp_path, env={})
    assert seen and seen[0].read_only_workspace
