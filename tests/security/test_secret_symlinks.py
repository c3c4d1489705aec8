"""A `.env` that is a symlink to a file outside the workspace (the deploy layout `.env ->
../shared/.env`) is hidden in the sandbox with its target (issue 21, case 4): `grep -R PASS . |
cut -c1-30`, then `cut -c31-80`, gave the model the value in two pieces."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

from agentctl.process.bwrap import scan_workspace
from agentctl.process.confine import Sandbox
from agentctl.process.run import minimal_env, run_process
from agentctl.process.sandbox import SandboxSettings, probe_confinement

PROBED = probe_confinement()
needs_bwrap = pytest.mark.skipif(not PROBED.available, reason=f"no sandbox here: {PROBED.reason}")
VALUE = f"CANARY-LINK-{uuid.uuid4().hex}"

COMMANDS = [
    "grep -R PASS . | cut -c1-30",
    "grep -R PASS . | cut -c31-80",
    "cat .env",
    "cat settings.cfg",
    "cat config/.env",
    "cat nested/.env.production",
    "grep -R PASS ../shared",
]


@pytest.fixture
def deploy() -> tuple[Path, Path]:
    """top/ws (the workspace) and top/shared/.env, linked the ways deploys link them; not
    under /tmp, which the sandbox replaces anyway."""
    base = "/var/tmp" if os.access("/var/tmp", os.W_OK) else None
    top = Path(tempfile.mkdtemp(prefix="agentctl-links-", dir=base))
    top.chmod(0o755)  # as root, a nobody-run check must still reach the workspace
    shared, ws = top / "shared", top / "ws"
    shared.mkdir()
    ws.mkdir()
    (shared / ".env").write_text(f"PASS={VALUE}\n")
    (shared / "prod.env").write_text(f"PASS={VALUE}\n")
    (ws / ".env").symlink_to("../shared/.env")
    (ws / "settings.cfg").symlink_to(shared / ".env")  # an innocent name, a secret target
    (ws / "config").symlink_to("../shared")  # a folder link holding a .env
    (ws / "nested").mkdir()
    (ws / "nested" / ".env.production").symlink_to(shared / "prod.env")
    (ws / "app.py").write_text("print('hi')\n")
    yield ws, shared
    shutil.rmtree(top, ignore_errors=True)


def pieces(text: str) -> list[str]:
    """Every run of 8 characters of the secret value that `text` holds."""
    return [VALUE[i : i + 8] for i in range(len(VALUE) - 7) if VALUE[i : i + 8] in text]


def test_links_to_secret_files_outside_the_workspace_are_guarded(deploy):
    ws, shared = deploy
    guarded = scan_workspace(ws).secret_files
    assert str(shared / ".env") in guarded and str(shared / "prod.env") in guarded


@needs_bwrap
@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS)
def test_a_linked_env_gives_no_piece_of_its_value_in_the_sandbox(deploy, command):
    ws, shared = deploy
    confined = Sandbox(SandboxSettings(network=False), PROBED)
    result = run_process(command, cwd=ws, env=minimal_env(), timeout=20, sandbox=confined)
    assert result.confinement == "bwrap"
    assert "PASS=" not in result.output and pieces(result.output) == [], result.output
    # Outside the sandbox the deploy still works as it did.
    assert (ws / ".env").read_text() == f"PASS={VALUE}\n"
    assert (shared / ".env").read_text() == f"PASS={VALUE}\n"
    # The rest of the workspace is as usable as before.
    confined = Sandbox(SandboxSettings(), PROBED)
    ok = run_process("cat app.py", cwd=ws, env=minimal_env(), timeout=20, sandbox=confined)
    assert ok.output == "print('hi')\n"
