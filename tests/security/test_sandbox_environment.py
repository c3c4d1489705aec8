"""The environment tool processes get (issue 21, case 5): a relative or empty PATH entry
(`PATH=node_modules/.bin:$PATH`, `PATH=:/usr/bin`) would make `cat` mean the repository's
own `node_modules/.bin/cat`, so such entries never reach a shell tool or an MCP server."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest

from agentctl.process.run import minimal_env
from agentctl.process.sandbox import SandboxSettings, probe_confinement
from agentctl.tools.base import ToolContext
from agentctl.tools.mcp_client import McpHub, plan_servers
from agentctl.tools.toolbox import build_toolbox

PROBED = probe_confinement()
needs_bwrap = pytest.mark.skipif(not PROBED.available, reason=f"no sandbox here: {PROBED.reason}")
HERE = Path(__file__).resolve().parent.parent
CANARY = f"CANARY-PATH-{uuid.uuid4().hex}"
# The sandbox has a private /tmp: a venv under /tmp cannot start the MCP test server there.
VISIBLE_IN_SANDBOX = not any(
    os.path.realpath(p).startswith("/tmp/") for p in (sys.prefix, str(HERE))
)


def planted_workspace(ws: Path) -> None:
    """A repository whose own `node_modules/.bin/cat` (and `./cat`) print the canary."""
    (ws / "README.md").write_text("the real readme\n")
    for folder in (ws / "node_modules" / ".bin", ws):
        folder.mkdir(parents=True, exist_ok=True)
        fake = folder / "cat"
        fake.write_text(f"#!/bin/sh\necho {CANARY}\n")
        fake.chmod(0o755)


def hostile_path() -> str:
    """What a user's shell exports after `PATH=node_modules/.bin:$PATH` and a stray `:`."""
    return "node_modules/.bin::" + os.environ.get("PATH", "/usr/bin:/bin") + ":."


@pytest.mark.parametrize(
    "path, expected",
    [
        ("node_modules/.bin:/usr/bin:/bin", "/usr/bin:/bin"),
        (":/usr/bin", "/usr/bin"),
        ("/usr/bin::/bin:", "/usr/bin:/bin"),
        ("/usr/bin:.:bin:./x:../y", "/usr/bin"),
    ],
)
def test_minimal_env_drops_relative_and_empty_path_entries(path, expected):
    assert minimal_env(source={"PATH": path})["PATH"] == expected
    # Listed by name (a recipe's `env: [PATH]`), it is cleaned the same way.
    assert minimal_env(["PATH"], source={"PATH": path})["PATH"] == expected


def test_a_path_of_only_relative_entries_falls_back_to_the_system_one():
    assert (
        minimal_env(source={"PATH": "node_modules/.bin::."})["PATH"]
        == "/usr/local/bin:/usr/bin:/bin"
    )


@pytest.mark.parametrize("sandbox", ["off", pytest.param("required", marks=needs_bwrap)])
def test_the_shell_tool_runs_the_system_cat_not_the_repositorys(workspace, sandbox):
    planted_workspace(workspace)
    shell = build_toolbox({}, ["shell"])["shell"]
    for env in (minimal_env(source={"PATH": hostile_path()}), {"PATH": hostile_path()}):
        settings = SandboxSettings(sandbox, network=False)
        ctx = ToolContext(workspace=workspace, env=env, sandbox=settings)
        result = shell.run({"command": "cat README.md"}, ctx)
        assert result.ok, result.output
        assert "the real readme" in result.output and CANARY not in result.output


def _server_runs_cat(workspace: Path, sandbox: str) -> str:
    server = type(
        "Server",
        (),
        {
            "url": None,
            "env": ["PATH"],
            "timeout": None,
            "argv": lambda self: [sys.executable, str(HERE / "mcp_testserver.py")],
        },
    )()
    plans = plan_servers(
        {"t": server},
        env={"PATH": hostile_path()},
        workspace=workspace,
        sandbox=SandboxSettings(sandbox, network=False),
    )
    with McpHub(plans) as hub:
        hub.start(["t"])
        return hub.call("t", "run", {"argv": ["cat", "README.md"]}, timeout=30).output


@pytest.mark.slow
@pytest.mark.parametrize(
    "sandbox",
    [
        "off",
        pytest.param(
            "required",
            marks=pytest.mark.skipif(
                not (PROBED.available and VISIBLE_IN_SANDBOX),
                reason="needs bubblewrap, and the venv and tests outside /tmp",
            ),
        ),
    ],
)
def test_an_mcp_server_runs_the_system_cat_not_the_repositorys(workspace, sandbox):
    planted_workspace(workspace)
    output = _server_runs_cat(workspace, sandbox)
    assert "the real readme" in output and CANARY not in output
