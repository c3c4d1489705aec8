"""Tests of confinement (agentctl.process.sandbox, the reaper) and of the shell tool's sandbox modes.

Tests that need bubblewrap skip, with the probe's reason, where it does not work.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest
from conftest import sandbox_python

from agentctl.process import run as sandbox
from agentctl.process import sandbox as confine
from agentctl.process.bwrap import build_argv
from agentctl.process.confine import Sandbox, resolve_sandbox
from agentctl.process.run import minimal_env, run_process
from agentctl.process.sandbox import (
    Confinement,
    SandboxSettings,
    confinement_for,
    probe_confinement,
    warning_for,
)
from agentctl.tools.base import ToolContext
from agentctl.tools.toolbox import build_toolbox

PROBED = probe_confinement()
needs_bwrap = pytest.mark.skipif(not PROBED.available, reason=f"no sandbox here: {PROBED.reason}")
needs_netns = pytest.mark.skipif(
    not (PROBED.available and PROBED.network_isolation),
    reason=f"no network isolation here: {PROBED.reason}",
)
PY = sandbox_python()
FAKE_BWRAP = Confinement("bwrap", "", network_isolation=True, bwrap="/usr/bin/bwrap")
MISSING = Confinement("none", "bubblewrap (bwrap) is not installed")
# What the probe found, with the network and nothing hidden (a shell tool's default).
CONFINED = Sandbox(SandboxSettings(), PROBED)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path


@pytest.fixture
def outside() -> Path:
    """A folder outside /tmp (which the sandbox replaces anyway), removed afterwards."""
    base = "/var/tmp" if os.access("/var/tmp", os.W_OK) else None
    path = Path(tempfile.mkdtemp(prefix="agentctl-test-", dir=base))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def confined(
    command: str,
    cwd: Path,
    *,
    network: bool = False,
    hidden=(),
    timeout: float = 20,
    env: dict[str, str] | None = None,
) -> sandbox.ProcessResult:
    return run_process(
        command,
        cwd=cwd,
        env=env or minimal_env(),
        timeout=timeout,
        sandbox=Sandbox(SandboxSettings(network=network, hidden_paths=tuple(hidden)), PROBED),
    )


def processes_with(marker: str, within: float = 2.0) -> list[str]:
    """Live processes whose command line holds `marker`, once gone or `within` s passed."""
    deadline = time.monotonic() + within
    while True:
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if marker in cmdline and state != "Z":
                found.append(f"{entry} {cmdline}")
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


# --------------------------------------------------------------------------- the probe


def test_probe_is_cached_and_explains_itself():
    assert probe_confinement() is probe_confinement()
    assert PROBED.kind in ("bwrap", "none")
    if not PROBED.available:
        assert PROBED.reason
    print(f"probe: {PROBED}")


# --------------------------------------------------------------------------- build_argv


def test_build_argv_without_confinement_is_a_plain_shell():
    argv = build_argv("echo hi")
    assert argv[-2:] == ["-c", "echo hi"] and argv[0] in ("/bin/bash", "/bin/sh")
    assert build_argv("echo hi", workspace="/w", confinement=MISSING) == argv


def test_build_argv_confines(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    db = ws / "agentctl.db"
    db.write_text("x")
    state = ws / ".state"
    state.mkdir()
    argv = build_argv(
        "make",
        SandboxSettings(network=False, hidden_paths=(db, state, ws / "absent-wal")),
        workspace=ws,
        confinement=FAKE_BWRAP,
        env={"PATH": "/bin", "A": "1"},
    )
    joined = " ".join(argv)
    assert argv[0] == "/usr/bin/bwrap" and argv[-2:] == ["-c", "make"] and "--" in argv
    for flag in (
        "--ro-bind / /",
        "--tmpfs /tmp",
        "--dev /dev",
        "--proc /proc",
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        f"--chdir {ws}",
        f"--bind {ws} {ws}",
        f"--ro-bind /dev/null {db}",
        f"--tmpfs {state}",
    ):
        assert flag in joined, flag
    assert "--share-net" not in argv and "absent-wal" not in joined
    # Environment values never go on the command line, where `ps` shows them to everyone.
    assert "--setenv" not in argv and "/bin" not in argv[:-3]
    # Order matters: /tmp first, the workspace, then what is hidden inside it; env after clear.
    assert (
        joined.index("--tmpfs /tmp")
        < joined.index(f"--bind {ws}")
        < joined.index(f"--tmpfs {state}")
    )
    assert "--share-net" in build_argv(
        "x", SandboxSettings(network=True), workspace=ws, confinement=FAKE_BWRAP
    )
    assert "--new-session" not in build_argv(
        "x", workspace=ws, confinement=FAKE_BWRAP, new_session=False
    )


@pytest.mark.skipif(not os.path.lexists("/etc/shadow"), reason="needs a host secret file")
def test_each_hidden_file_is_mounted_over_once(tmp_path):
    """A file hidden for two reasons (a host secret, a setting's path, root-only) was mounted
    over once per reason: bubblewrap made each mount again (kernel time in every command)."""
    ws = tmp_path / "ws"
    ws.mkdir()
    argv = build_argv(
        "make",
        SandboxSettings(hidden_paths=(Path("/etc/shadow"),)),
        workspace=ws,
        confinement=FAKE_BWRAP,
    )
    hidden = [
        argv[i + 2] for i, a in enumerate(argv) if argv[i : i + 2] == ["--ro-bind", "/dev/null"]
    ]
    assert "/etc/shadow" in hidden
    assert len(hidden) == len(set(hidden)), sorted(hidden)


# --------------------------------------------------------------------------- modes


def test_modes_with_confinement_unavailable():
    conf, err = confinement_for("required", available=MISSING)
    assert conf is None and "requires a sandbox" in err and "not installed" in err
    assert confinement_for("preferred", available=MISSING) == (None, None)
    assert confinement_for("off", available=MISSING) == (None, None)
    assert "every shell action needs approval" in warning_for("preferred", available=MISSING)
    assert warning_for("off", available=MISSING) is None
    assert warning_for("required", available=MISSING) is None
    assert confinement_for("sometimes")[1].startswith("unknown sandbox mode")


def test_modes_with_confinement_available():
    assert confinement_for("required", available=FAKE_BWRAP) == (FAKE_BWRAP, None)
    assert confinement_for("preferred", available=FAKE_BWRAP) == (FAKE_BWRAP, None)
    assert confinement_for("off", available=FAKE_BWRAP) == (None, None)
    assert warning_for("preferred", available=FAKE_BWRAP) is None
    no_net = Confinement("bwrap", "no network isolation: denied", network_isolation=False)
    assert confinement_for("required", network=False, available=no_net)[1].startswith("refused")
    assert confinement_for("required", network=True, available=no_net) == (no_net, None)
    assert "network" in warning_for("preferred", network=False, available=no_net)


def test_settings_meet_this_machine_in_one_value_that_says_how_a_command_runs():
    refused = resolve_sandbox(SandboxSettings("required", network=False), available=MISSING)
    assert refused.refusal and "not installed" in refused.refusal and not refused.confined
    assert refused.record() == {
        "confinement": "none",
        "mode": "required",
        "network": False,
        "refused": True,
        "reason": refused.refusal,
    }
    with pytest.raises(ValueError, match="refused"):
        refused.argv("true", workspace=Path("/w"), env={}, rlimits={})
    unconfined = resolve_sandbox(SandboxSettings("preferred"), available=MISSING)
    assert unconfined.record()["reason"] == MISSING.reason and unconfined.kind == "none"
    assert resolve_sandbox(SandboxSettings("off"), available=FAKE_BWRAP).record()["reason"] == (
        "sandbox is off"
    )
    confined_here = resolve_sandbox(SandboxSettings("required"), available=FAKE_BWRAP)
    assert confined_here.kind == "bwrap" and confined_here.record()["reason"] is None


def test_a_sandbox_argv_is_the_reaper_over_bwrap_as_the_settings_say(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    shown = tmp_path / "shown"
    shown.mkdir()
    settings = SandboxSettings("required", network=False, read_only_workspace=True)
    argv = Sandbox(settings, FAKE_BWRAP).argv(
        "make", workspace=ws, env={"PATH": "/bin"}, rlimits={}, new_session=False
    )
    bwrap = argv[argv.index("--") + 1 :]
    assert "reaper" in argv[argv.index("--") - 2] and bwrap[0] == "/usr/bin/bwrap"
    assert bwrap == build_argv(
        "make", settings, workspace=ws, confinement=FAKE_BWRAP, env={}, new_session=False
    )
    assert f"--ro-bind {ws} {ws}" in " ".join(bwrap) and "--share-net" not in bwrap
    unconfined = Sandbox(settings, MISSING).argv("make", workspace=ws, env={}, rlimits={})
    assert unconfined[unconfined.index("--") + 1 :] == build_argv("make")


def test_a_policy_added_to_a_live_job_only_narrows_the_settings():
    settings = SandboxSettings("preferred", network=True, hidden_paths=(Path("/db"),))
    narrowed = settings.narrowed(network=False, read_only_workspace=True)
    assert (narrowed.network, narrowed.read_only_workspace) == (False, True)
    assert narrowed.mode == "preferred" and narrowed.hidden_paths == (Path("/db"),)
    assert not narrowed.narrowed(network=True, read_only_workspace=True).network


def test_required_mode_refuses_when_unavailable(ws, monkeypatch):
    monkeypatch.setattr(confine, "_probed", MISSING)
    shell = build_toolbox({}, ["shell"])["shell"]
    ctx = ToolContext(workspace=ws, sandbox=SandboxSettings("required"))
    result = shell.run({"command": "touch ran"}, ctx)
    assert not result.ok and result.error == "sandbox_unavailable"
    assert "requires a sandbox" in result.output and "not installed" in result.output
    assert not (ws / "ran").exists()
    assert ctx.confinement["refused"] is True
    # preferred runs it anyway, unconfined, and says so.
    ctx = ToolContext(workspace=ws, sandbox=SandboxSettings("preferred"))
    assert shell.run({"command": "touch ran"}, ctx).ok and (ws / "ran").exists()
    assert ctx.confinement == {
        "confinement": "none",
        "mode": "preferred",
        "network": True,
        "refused": False,
        "reason": MISSING.reason,
    }


def test_off_mode_never_confines(ws):
    ctx = ToolContext(workspace=ws, sandbox=SandboxSettings("off"))
    assert build_toolbox({}, ["shell"])["shell"].run({"command": "true"}, ctx).ok
    assert ctx.confinement["confinement"] == "none"


@needs_bwrap
def test_shell_tool_runs_confined_and_reports_it(ws):
    ctx = ToolContext(workspace=ws, sandbox=SandboxSettings("required", network=False))
    result = build_toolbox({}, ["shell"])["shell"].run(
        {"command": "touch /etc/agentctl-test-shell"}, ctx
    )
    assert not result.ok and "Read-only file system" in result.output
    assert ctx.confinement["confinement"] == "bwrap"
    assert not Path("/etc/agentctl-test-shell").exists()


# --------------------------------------------------------------------------- the file system


@needs_bwrap
def test_writes_outside_the_workspace_fail(ws):
    home = Path("/root") if Path("/root").is_dir() else Path.home()
    name = f"agentctl-test-{uuid.uuid4().hex[:8]}"
    result = confined(
        f"touch /etc/{name}; echo etc=$?; touch {home}/{name}; echo home=$?; "
        f"touch inside && echo ws=$?",
        ws,
    )
    assert result.confinement == "bwrap"
    assert "etc=1" in result.output and "home=1" in result.output and "ws=0" in result.output
    assert not os.path.lexists(f"/etc/{name}") and not os.path.lexists(home / name)
    assert (ws / "inside").exists()


@needs_bwrap
def test_tmp_is_private(ws):
    host_file = Path(tempfile.gettempdir()) / f"agentctl-host-{uuid.uuid4().hex[:8]}"
    host_file.write_text("host secret")
    marker = f"agentctl-inside-{uuid.uuid4().hex[:8]}"
    try:
        result = confined(f"cat {host_file}; echo cat=$?; echo x > /tmp/{marker}; echo w=$?", ws)
    finally:
        host_file.unlink()
    assert "host secret" not in result.output and "cat=1" in result.output
    assert "w=0" in result.output  # /tmp is writable inside, but private
    assert not (Path(tempfile.gettempdir()) / marker).exists()


@needs_bwrap
def test_hidden_paths_are_unreadable_even_inside_the_workspace(ws, outside):
    db = ws / "agentctl.db"
    db.write_text("SECRET-DB")
    wal = ws / "agentctl.db-wal"
    wal.write_text("SECRET-WAL")
    state = outside / "state"
    state.mkdir()
    (state / "runner.log").write_text("SECRET-STATE")
    far_db = outside / "other.db"
    far_db.write_text("SECRET-FAR")
    result = confined(
        f"cat agentctl.db agentctl.db-wal {state}/runner.log {far_db}; "
        f"echo overwrite > agentctl.db; ls {state}; echo done",
        ws,
        hidden=(db, wal, ws / "agentctl.db-shm", state, far_db),
    )
    assert "SECRET" not in result.output and "done" in result.output
    assert db.read_text() == "SECRET-DB" and far_db.read_text() == "SECRET-FAR"


@needs_bwrap
def test_hidden_folder_around_the_workspace_keeps_the_workspace(outside):
    state = outside / "state"
    ws = state / "workspaces" / "job1"
    ws.mkdir(parents=True)
    (state / "agentctl.db").write_text("SECRET-DB")
    result = confined(f"cat {state}/agentctl.db; touch made && echo ok", ws, hidden=(state,))
    assert "SECRET" not in result.output and "ok" in result.output
    assert (ws / "made").exists()


# --------------------------------------------------------------------------- the network


@pytest.fixture
def server():
    """A TCP server on 127.0.0.1 that accepts connections; yields its port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                conn.close()
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(2)
    listener.close()


def connect_command(port: int) -> str:
    code = (
        f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=3); "
        f"print('connected')"
    )
    return f'{PY} -I -S -c "{code}"'


@needs_netns
def test_no_network_unless_allowed(ws, server):
    blocked = confined(connect_command(server), ws, network=False)
    assert "connected" not in blocked.output and blocked.exit_code != 0
    allowed = confined(connect_command(server), ws, network=True)
    assert "connected" in allowed.output and allowed.exit_code == 0


# --------------------------------------------------------------------------- environment


@pytest.mark.parametrize("use_bwrap", [False, pytest.param(True, marks=needs_bwrap)])
def test_environment_holds_no_secret(ws, monkeypatch, use_bwrap):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake-0123456789abcdef")
    env = minimal_env()
    result = run_process(
        "env", cwd=ws, env=env, timeout=10, sandbox=CONFINED if use_bwrap else None
    )
    assert "sk-fake" not in result.output and "OPENAI_API_KEY" not in result.output
    names = {line.split("=", 1)[0] for line in result.output.splitlines() if "=" in line}
    assert names <= set(env) | {"PWD", "SHLVL", "_", "OLDPWD"}
    # The shell tool with no configured env uses minimal_env too.
    ctx = ToolContext(workspace=ws, sandbox=SandboxSettings("preferred" if use_bwrap else "off"))
    out = build_toolbox({}, ["shell"])["shell"].run({"command": "env"}, ctx).output
    assert "sk-fake" not in out


def test_resource_limits_apply(ws):
    result = run_process("ulimit -f; ulimit -c; ulimit -t", cwd=ws, env=minimal_env(), timeout=7)
    file_blocks, core, cpu = result.output.split()
    assert int(file_blocks) * 1024 <= sandbox.FILE_SIZE_LIMIT
    assert core == "0" and int(cpu) == 7 + sandbox.CPU_SLACK_S


# --------------------------------------------------------------------------- process trees


@pytest.mark.parametrize("use_bwrap", [False, pytest.param(True, marks=needs_bwrap)])
def test_setsid_child_outliving_a_timeout_is_killed(ws, use_bwrap):
    marker = f"{1000 + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 10**6:06d}"
    started = time.monotonic()
    result = run_process(
        f"setsid sleep {marker} & (setsid sh -c 'sleep {marker}' &); sleep 30",
        cwd=ws,
        env=minimal_env(),
        timeout=0.5,
        sandbox=CONFINED if use_bwrap else None,
    )
    assert result.timed_out and time.monotonic() - started < 5
    assert result.confinement == ("bwrap" if use_bwrap else "none")
    assert processes_with(f"sleep {marker}") == []


@pytest.mark.parametrize("use_bwrap", [False, pytest.param(True, marks=needs_bwrap)])
def test_setsid_child_of_a_finished_command_is_killed(ws, use_bwrap):
    marker = f"{1000 + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 10**6:06d}"
    result = run_process(
        f"setsid sleep {marker} & echo done",
        cwd=ws,
        env=minimal_env(),
        timeout=20,
        sandbox=CONFINED if use_bwrap else None,
    )
    assert result.exit_code == 0 and "done" in result.output and not result.timed_out
    assert processes_with(f"sleep {marker}") == []


def test_cancel_kills_a_setsid_tree(ws):
    marker = f"{1000 + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 10**6:06d}"
    cancel = threading.Event()
    timer = threading.Timer(0.5, cancel.set)
    timer.start()
    try:
        result = run_process(
            f"setsid sleep {marker} & sleep 30",
            cwd=ws,
            env=minimal_env(),
            timeout=20,
            cancel=cancel,
        )
    finally:
        timer.cancel()
    assert result.cancelled
    assert processes_with(f"sleep {marker}") == []
