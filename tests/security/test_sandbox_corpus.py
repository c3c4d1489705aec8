"""Runs the attack corpus (corpus.py) confined, and checks each case's outcome and, after
every case, that nothing leaked and nothing outside the workspace (or in its .git) changed.

Run it as root and as an unprivileged user: CI does both (see .ci/run).
"""

from __future__ import annotations

import os
import platform
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import sandbox_python
from corpus import ATTACKS, Attack

from agentctl.engine.context import visible_paths_for
from agentctl.policy.rules import PolicySet, load_policy_text
from agentctl.process.confine import Sandbox
from agentctl.process.run import minimal_env, run_process
from agentctl.process.sandbox import SandboxSettings, probe_confinement
from agentctl.redact import Redactor, env_file_secrets

PROBED = probe_confinement()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not PROBED.available, reason=f"no sandbox here: {PROBED.reason}"),
]


def confined(**settings: Any) -> Sandbox:
    """What the probe found, as `settings` say (network, hidden and visible paths)."""
    return Sandbox(SandboxSettings(**settings), PROBED)


ROOT = os.geteuid() == 0
ENV_CANARY = f"CANARY-ENV-{uuid.uuid4().hex}"
HOME_CANARY = f"CANARY-HOME-{uuid.uuid4().hex}"
DB_CANARY = f"CANARY-DB-{uuid.uuid4().hex}"


def _git(ws: Path, *args: str) -> None:
    env = {
        **minimal_env(),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
        "HOME": str(ws.parent),
    }
    subprocess.run(["git", *args], cwd=ws, env=env, check=True, capture_output=True)


@pytest.fixture(scope="module")
def lab():
    """A workspace (a git repository with a committed .env), a home with a key, a database,
    a host Unix socket (root only) and an abstract socket, shared by every case."""
    base = "/var/tmp" if os.access("/var/tmp", os.W_OK) else None
    top = Path(tempfile.mkdtemp(prefix="agentctl-corpus-", dir=base))
    ws = top / "ws"
    ws.mkdir()
    (ws / ".env").write_text(f"API_TOKEN={ENV_CANARY}\n")
    (ws / "payload.txt").write_text("[core]\n\tfsmonitor = touch /tmp/pwned\n")
    (ws / ".agentctl").mkdir()
    _git(ws, "init", "-q")
    _git(ws, "add", "-A")
    _git(ws, "commit", "-qm", "init")
    home = top / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text(HOME_CANARY)
    state = top / "state"
    state.mkdir()
    db = state / "agentctl.db"
    db.write_text(DB_CANARY)
    listeners = []
    abstract = f"agentctl-test-{uuid.uuid4().hex[:12]}"
    server = socket.socket(socket.AF_UNIX)
    server.bind("\0" + abstract)
    server.listen(4)
    listeners.append(server)
    sock = ""
    if ROOT and os.path.isdir("/run"):
        sock = f"/run/agentctl-test-{uuid.uuid4().hex[:12]}.sock"
        host = socket.socket(socket.AF_UNIX)
        host.bind(sock)
        host.listen(4)
        listeners.append(host)
    stop = threading.Event()

    def accept(listener):
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                listener.accept()[0].close()
            except OSError:
                continue

    threads = [threading.Thread(target=accept, args=(s,), daemon=True) for s in listeners]
    for t in threads:
        t.start()
    yield {
        "top": top,
        "ws": ws,
        "home": home,
        "db": db,
        "state": state,
        "sock": sock,
        "abstract": abstract,
    }
    stop.set()
    for t in threads:
        t.join(2)
    for s in listeners:
        s.close()
    if sock:
        os.unlink(sock)
    shutil.rmtree(top, ignore_errors=True)


def _fill(arg: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        arg = arg.replace("{" + name + "}", value)
    return arg


def _snapshot(ws: Path) -> dict[str, bytes]:
    """Every file under .git, .agentctl and the .env, to prove none changed."""
    found = {".env": (ws / ".env").read_bytes()}
    for folder in (".git", ".agentctl"):
        for path in sorted((ws / folder).rglob("*")):
            if path.is_file() and path.name != "index":  # git status may refresh the index
                found[str(path.relative_to(ws))] = path.read_bytes()
    return found


def _cases():
    for attack in ATTACKS:
        marks = []
        if attack.root_only and not ROOT:
            marks.append(pytest.mark.skip(reason="meaningful only as root"))
        if attack.machine and platform.machine() != attack.machine:
            marks.append(pytest.mark.skip(reason=f"system call numbers of {attack.machine}"))
        if attack.needs_seccomp and PROBED.seccomp is None:
            marks.append(pytest.mark.skip(reason=PROBED.notes or "no seccomp filter"))
        yield pytest.param(attack, id=attack.id, marks=marks)


@pytest.mark.parametrize("attack", list(_cases()))
def test_attack(attack: Attack, lab, monkeypatch):
    monkeypatch.setenv("HOME", str(lab["home"]))  # the caller's home is hidden, whoever runs
    marker = f"agentctl-marker-{uuid.uuid4().hex[:12]}"
    values = {
        "ws": str(lab["ws"]),
        "home": str(lab["home"]),
        "db": str(lab["db"]),
        "py": sandbox_python(),
        "sock": lab["sock"],
        "abstract": lab["abstract"],
        "marker": marker,
    }
    argv = [_fill(a, values) for a in attack.argv]
    before = _snapshot(lab["ws"])
    result = run_process(
        shlex.join(argv),
        cwd=lab["ws"],
        env=minimal_env(),
        timeout=30,
        sandbox=confined(network=attack.network, hidden_paths=(lab["db"], lab["state"])),
    )
    output = result.output
    assert result.confinement == "bwrap"
    if attack.expect == "fails":
        assert result.exit_code != 0, output
    if attack.expect == "runs":
        assert result.exit_code == 0, output
    if attack.must_print:
        assert re.search(attack.must_print, output, re.M), output
    if attack.expect == "masked":
        output = Redactor(env_file_secrets(lab["ws"])).mask(output)
    # The invariants, after every case.
    if attack.must_not_print:
        assert not re.search(attack.must_not_print, output, re.M), output
    for canary in (ENV_CANARY, HOME_CANARY, DB_CANARY):
        assert canary not in output, (attack.id, output)
    assert _snapshot(lab["ws"]) == before
    for place in ("/usr/lib", "/etc", "/tmp", str(lab["home"]), str(lab["top"])):
        assert not os.path.lexists(os.path.join(place, marker)), place
    (lab["ws"] / "made.txt").unlink(missing_ok=True)
    for name in ("alias", "hard"):
        (lab["ws"] / name).unlink(missing_ok=True)


def test_a_path_a_policy_names_stays_readable_in_a_hidden_home(lab, monkeypatch):
    monkeypatch.setenv("HOME", str(lab["home"]))
    cache = lab["home"] / ".cache" / "tool"
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "data.txt").write_text("cached-data")
    policy = PolicySet(
        [
            load_policy_text(
                yaml.safe_dump(
                    {
                        "version": 1,
                        "name": "cache",
                        "rules": [
                            {
                                "id": "tool-cache",
                                "tools": ["shell"],
                                "paths": [f"{cache}/**"],
                                "decision": "allow",
                            }
                        ],
                    }
                ),
                "p.yaml",
            )
        ]
    )
    visible = visible_paths_for(policy)
    assert visible == (cache,)
    result = run_process(
        shlex.join(
            [
                "sh",
                "-c",
                f"cat {cache}/data.txt; cat {lab['home']}/.ssh/id_ed25519; touch {cache}/w",
            ]
        ),
        cwd=lab["ws"],
        env=minimal_env(),
        timeout=30,
        sandbox=confined(network=False, visible_paths=visible),
    )
    assert "cached-data" in result.output and HOME_CANARY not in result.output
    assert not (cache / "w").exists()


def test_guarded_names_linked_outside_cannot_show_what_is_hidden(lab, monkeypatch):
    """A command plants `.git`, `.agentctl` and `.env` links to hidden places; the next
    command's mounts must not bring those places back into view."""
    monkeypatch.setenv("HOME", str(lab["home"]))
    planted = lab["ws"] / "planted"
    planted.mkdir()
    try:
        os.symlink(lab["home"], planted / ".git")
        os.symlink("/run", planted / ".agentctl")
        os.symlink(lab["state"], planted / ".env")
        result = run_process(
            shlex.join(
                ["sh", "-c", f"cat {lab['home']}/.ssh/id_ed25519; ls -a /run {lab['state']}"]
            ),
            cwd=lab["ws"],
            env=minimal_env(),
            timeout=30,
            sandbox=confined(network=False, hidden_paths=(lab["db"], lab["state"])),
        )
    finally:
        shutil.rmtree(planted)
    assert HOME_CANARY not in result.output and "agentctl.db" not in result.output
    assert not re.search(r"^(dbus|systemd|agentctl-test-)", result.output, re.M), result.output


@pytest.mark.skipif(not ROOT, reason="needs a folder root cannot reach without capabilities")
def test_a_guarded_name_the_sandbox_cannot_reach_does_not_break_the_command(workspace):
    private = workspace / "private"
    (private / "repo" / ".git").mkdir(parents=True)
    os.chown(private, 65534, 65534)
    private.chmod(0o700)
    result = run_process(
        "echo still-runs", cwd=workspace, env=minimal_env(), timeout=30, sandbox=confined()
    )
    assert result.exit_code == 0 and "still-runs" in result.output, result.output
