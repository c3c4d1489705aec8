"""Issue 21, case 7: a PostgreSQL password given as `--db postgresql://user:PASS@...` stayed
in `ps` for the whole run. agentctl hides it in its own command line as soon as it starts,
and says once where the password belongs instead."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import agentctl_env, require_postgres

from agentctl.process.cmdline import hide_db_passwords, masked_db_args

PASSWORD = "Pa55-w0rd-canary-7f3e"
pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _shown_by_ps(pid: int) -> str:
    """What another user of the machine sees: `ps -o args` (from /proc/PID/cmdline)."""
    return subprocess.run(
        ["ps", "-ww", "-o", "args=", "-p", str(pid)], capture_output=True, text=True, check=False
    ).stdout


def _start(args: list[str], cwd: Path, db: str) -> subprocess.Popen:
    env = agentctl_env(db)
    env.pop("AGENTCTL_DB")
    return subprocess.Popen(
        [sys.executable, "-m", "agentctl", *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_password_leaves_ps_before_the_database_is_reached(tmp_path):
    pytest.importorskip("psycopg")  # agentctl must get as far as connecting
    # A server that accepts and never answers: agentctl waits in its connect, holding the URL.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(20)
    port = listener.getsockname()[1]
    url = f"postgresql://alice:{PASSWORD}@127.0.0.1:{port}/jobs"
    proc = _start(["--db", url, "jobs"], tmp_path, url)
    try:
        conn, _ = listener.accept()  # it is connecting: it has read --db long ago
        shown = _shown_by_ps(proc.pid)
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        conn.close()
    finally:
        proc.kill()
        _, stderr = proc.communicate(timeout=20)
        listener.close()
    assert "postgresql://alice:***@127.0.0.1" in shown, shown
    assert PASSWORD not in shown
    assert PASSWORD.encode() not in cmdline
    assert "jobs" in shown.split("***", 1)[1]  # the rest of the command line stays readable
    warning = [line for line in stderr.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1, stderr
    assert "AGENTCTL_DB" in warning[0] and "PGPASSFILE" in warning[0]
    assert PASSWORD not in stderr


def test_the_password_is_hidden_for_the_whole_run_on_a_real_server(tmp_path, request):
    pytest.importorskip("psycopg")  # the unprivileged CI run has no postgres extra
    require_postgres()
    base = request.getfixturevalue("postgres_url")  # a schema of this test's own
    assert ":" in base.split("@", 1)[0].removeprefix("postgresql://"), "the CI URL has a password"
    password = base.split("@", 1)[0].rsplit(":", 1)[1]
    proc = _start([f"--db={base}", "worker", "--queue", "nothing-here"], tmp_path, base)
    try:
        deadline = time.monotonic() + 30
        while "taking jobs" not in (line := proc.stderr.readline()):
            assert line and time.monotonic() < deadline, "the worker did not start"
        shown = _shown_by_ps(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert password not in shown
    assert "--db=postgresql://agentctl:***@" in shown, shown


def test_the_rewrite_holds_for_any_user(tmp_path):
    """The mechanism alone, where agentctl cannot connect (no psycopg: the unprivileged CI
    run): a process that hid its `--db` password shows `***` in `ps` while it runs."""
    code = (
        "import sys, time\n"
        "from agentctl.process.cmdline import hide_db_passwords\n"
        "print(bool(hide_db_passwords(sys.argv)), flush=True)\n"
        "time.sleep(60)\n"
    )
    url = f"postgresql://alice:{PASSWORD}@db.example:5432/jobs"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "--db", url, "worker"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "True"
        shown = _shown_by_ps(proc.pid)
    finally:
        proc.kill()
        proc.communicate(timeout=20)
    assert PASSWORD not in shown
    assert "--db postgresql://alice:***@db.example:5432/jobs worker" in shown, shown


def test_only_db_values_with_a_password_are_masked():
    argv = ["agentctl", "--db", f"postgresql://u:{PASSWORD}@h/db", "run", "r.yaml"]
    assert masked_db_args(argv) == {2: "postgresql://u:***@h/db"}
    assert masked_db_args(["agentctl", f"--db=postgres://u:{PASSWORD}@h/db"]) == {
        1: "--db=postgres://u:***@h/db"
    }
    assert masked_db_args(["agentctl", "--db", "postgresql://u@h/db", "jobs"]) == {}
    assert masked_db_args(["agentctl", "--db", "/tmp/x.db", "jobs"]) == {}
    # A value after `--` belongs to a tool, not to agentctl.
    assert masked_db_args(["agentctl", "policy", "explain", "p", "--", "--db", "x"]) == {}
    assert hide_db_passwords(["agentctl", "jobs"]) is None
