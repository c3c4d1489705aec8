"""As root, the sandbox cannot read what only root may read outside the workspace (issue 21,
case 6): the sandbox's uid mapped to host uid 0, so a 0600 root file in /srv was read by a
shell tool and by an MCP server. Root only (an unprivileged user cannot make such a file)."""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
import tempfile
import uuid
from pathlib import Path

import pytest
from conftest import sandbox_python

from agentctl.process import sandbox_user
from agentctl.process.run import minimal_env
from agentctl.process.sandbox import SandboxSettings, probe_confinement
from agentctl.tools.base import ToolContext
from agentctl.tools.mcp_client import McpHub, ServerLaunch
from agentctl.tools.toolbox import build_toolbox

PROBED = probe_confinement()
NOBODY = 65534
HERE = Path(__file__).resolve().parent.parent
CANARY = f"CANARY-ROOT-{uuid.uuid4().hex}"
pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="only root can make a root-only file"),
    pytest.mark.skipif(not PROBED.available, reason=f"no sandbox here: {PROBED.reason}"),
]


@pytest.fixture
def secret_file(monkeypatch):
    """A 0600 root file in /srv (or /opt), where the case found one, and one in a 0700 folder
    in /etc (the scan of /etc is reused for a while: made new here, it is scanned again)."""
    monkeypatch.setattr(sandbox_user, "_scanned", None)
    made = []
    for folder in ("/srv", "/opt"):
        if os.path.isdir(folder) and os.access(folder, os.W_OK):
            path = Path(folder) / f"agentctl-canary-{uuid.uuid4().hex}.txt"
            break
    else:
        pytest.skip("no writable /srv or /opt")
    etc_dir = Path(f"/etc/agentctl-canary-{uuid.uuid4().hex}")
    etc_dir.mkdir(mode=0o700)
    for target in (path, etc_dir / "secret.txt"):
        target.write_text(CANARY + "\n")
        target.chmod(0o600)
        made.append(target)
    yield made
    path.unlink(missing_ok=True)
    shutil.rmtree(etc_dir, ignore_errors=True)


@pytest.fixture
def ws(request) -> Path:
    """A workspace outside /tmp, owned by root or by a user (`nobody`)."""
    top = Path(tempfile.mkdtemp(prefix="agentctl-rootonly-", dir="/var/tmp"))
    top.chmod(0o755)
    ws = top / "ws"
    ws.mkdir()
    (ws / "README.md").write_text("readme\n")
    if request.param == "user":
        for path in (ws, ws / "README.md"):
            os.chown(path, NOBODY, NOBODY)
    yield ws
    shutil.rmtree(top, ignore_errors=True)


@pytest.mark.parametrize("ws", ["root", "user"], indirect=True)
def test_a_shell_tool_cannot_read_root_only_files(ws, secret_file):
    shell = build_toolbox({}, ["shell"])["shell"]
    settings = SandboxSettings("required", network=False)
    ctx = ToolContext(workspace=ws, env=minimal_env(), sandbox=settings)
    for path in secret_file:
        result = shell.run({"command": f"cat {path}"}, ctx)
        assert CANARY not in result.output, (path, result.output)
        assert ctx.confinement["confinement"] == "bwrap"
    # The workspace is as usable as before, and what the tool makes belongs to its owner.
    made = shell.run({"command": "cat README.md && echo made > new.txt"}, ctx)
    assert made.ok and "readme" in made.output, made.output
    assert (ws / "new.txt").stat().st_uid == ws.stat().st_uid


@pytest.mark.slow
@pytest.mark.parametrize("ws", ["root", "user"], indirect=True)
def test_an_mcp_server_cannot_read_root_only_files(ws, secret_file):
    # The system's Python with this run's packages: a workspace owner must be able to run it.
    purelib = sysconfig.get_paths()["purelib"]
    if not all(os.access(p, os.R_OK | os.X_OK) for p in (purelib, str(HERE))) or any(
        p.startswith("/tmp/") for p in (purelib, str(HERE), sys.prefix)
    ):
        pytest.skip("the test server's files must be outside /tmp and readable by nobody")
    plan = ServerLaunch(
        "t",
        argv=[sandbox_python(), str(HERE / "mcp_testserver.py")],
        env={**minimal_env(), "PYTHONPATH": purelib},
        cwd=ws,
        sandbox=SandboxSettings("required", network=False, visible_paths=(Path(purelib),)),
    )
    with McpHub({"t": plan}) as hub:
        hub.start(["t"])
        for path in secret_file:
            result = hub.call("t", "read", {"path": str(path)}, timeout=30)
            assert CANARY not in result.output and result.output.startswith("refused"), (
                result.output
            )
        ok = hub.call("t", "read", {"path": str(ws / "README.md")}, timeout=30)
        assert ok.output == "readme\n"
