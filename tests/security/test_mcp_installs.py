"""MCP servers installed as people install them start in the sandbox (issue 21): a server in a
venv made from a Python that lives in a home folder (pyenv, uv, pipx) could not start, because
the sandbox hides homes and only the script's own folder was shown, not its interpreter. The
home here is a folder outside /tmp that HOME names, as the sandbox decides what a home is."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest

from agentctl.process.bwrap import home_folders
from agentctl.process.run import minimal_env
from agentctl.process.sandbox import SandboxSettings, probe_confinement
from agentctl.tools.mcp_client import McpHub, McpStartError, ServerLaunch

HERE = Path(__file__).resolve().parent.parent
TESTSERVER = HERE / "mcp_testserver.py"
PROBED = probe_confinement()
# The test server imports the mcp SDK from this venv, which the sandbox must see: not /tmp.
VISIBLE_IN_SANDBOX = not any(
    os.path.realpath(p).startswith("/tmp/") for p in (sys.prefix, str(HERE))
)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (PROBED.available and VISIBLE_IN_SANDBOX),
        reason=f"needs bubblewrap ({PROBED.reason or 'ok'}), and this venv outside /tmp",
    ),
]


def _in_a_home(path: str) -> bool:
    return any(path == h or path.startswith(h + "/") for h in home_folders())


def _python_in(home: Path) -> str:
    """A Python installation under `home`: this machine's own when it lives in a home (as
    pyenv's does), else a copy of its interpreter with its standard library linked in."""
    base = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    if _in_a_home(base):
        return base
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    prefix = home / ".pyenv" / "versions" / "base"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "lib").mkdir()
    shutil.copy2(base, prefix / "bin" / version)
    (prefix / "lib" / version).symlink_to(sysconfig.get_paths()["stdlib"])
    python = str(prefix / "bin" / version)
    works = subprocess.run([python, "-c", "import asyncio, ssl"], capture_output=True, check=False)
    if works.returncode != 0:  # an interpreter tied to its own prefix (an absolute rpath)
        pytest.skip(f"cannot copy {base} into a home: {works.stderr.decode()[-200:]}")
    return python


@pytest.fixture
def home(monkeypatch):
    top = Path(tempfile.mkdtemp(prefix="agentctl-home-", dir="/var/tmp"))
    top.chmod(0o755)
    home = top / "home" / "dev"
    home.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    yield home
    shutil.rmtree(top, ignore_errors=True)


def install_server(home: Path, *, reads: Path | None = None) -> Path:
    """A venv in a project under `home`, from a Python under a home, with a console script
    that runs the test server (the mcp SDK comes from this test run's venv via a .pth)."""
    venv = home / "proj" / ".venv"
    subprocess.run([_python_in(home), "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = sysconfig.get_paths()["purelib"]
    site = next((venv / "lib").glob("python*/site-packages"))
    (site / "agentctl-test.pth").write_text(purelib + "\n")
    script = venv / "bin" / "agentctl-test-mcp"
    body = f"#!{venv / 'bin' / 'python'}\nimport runpy, sys\n"
    if reads is not None:
        body += f"open({str(reads)!r}).read()\n"
    body += f"sys.argv = [{str(TESTSERVER)!r}]\nrunpy.run_path(sys.argv[0], run_name='__main__')\n"
    script.write_text(body)
    script.chmod(0o755)
    return script


def launch(script: Path, workspace: Path) -> ServerLaunch:
    return ServerLaunch(
        "t",
        argv=[str(script)],
        env=minimal_env(),
        cwd=workspace,
        timeout=60,
        sandbox=SandboxSettings(
            "required",
            network=False,
            # What the script reads besides its installation (as a policy's allow rule names
            # it): as root, a folder such as /work is hidden unless it holds the workspace.
            visible_paths=(HERE, Path(sysconfig.get_paths()["purelib"])),
        ),
    )


def test_a_server_in_a_home_venv_starts_in_the_sandbox(home, workspace):
    script = install_server(home)
    with McpHub({"t": launch(script, workspace)}) as hub:
        hub.start(["t"])
        assert hub.confinement("t") == "bwrap"
        assert hub.call("t", "getenv", {"name": "HOME"}, timeout=30).output == "/tmp"
        # The rest of the home stays hidden.
        (home / "notes.txt").write_text("private\n")
        refused = hub.call("t", "read", {"path": str(home / "notes.txt")}, timeout=30)
        assert refused.output.startswith("refused"), refused.output


def test_what_the_sandbox_still_hides_is_named_with_the_fix(home, workspace):
    data = home / "config" / "server.json"
    data.parent.mkdir()
    data.write_text("{}\n")
    script = install_server(home, reads=data)
    with McpHub({"t": launch(script, workspace)}) as hub, pytest.raises(McpStartError) as caught:
        hub.start(["t"])
    message = f"{caught.value}\n{caught.value.hint}"
    assert f"the sandbox hides {data}" in message
    assert f'paths: ["{data.parent}/**"]' in message and "sandbox: off" in message
