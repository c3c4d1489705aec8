"""agentctl behind PgBouncer in transaction mode (issue 25): each transaction may run on
another server connection, so nothing may rely on session state (no session SET, no
server-side prepared statements; LISTEN degrades to the polls every wait already has).
The test starts its own pgbouncer in front of the test server."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import IN_CI, agentctl, require_postgres, write

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def bouncer_url() -> Iterator[str]:
    import psycopg

    base = require_postgres()
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not os.access(binary, os.X_OK):
        if IN_CI:
            pytest.fail("CI=true but pgbouncer is not installed (apt-get install pgbouncer)")
        pytest.skip("pgbouncer is not installed")
    parts = urlsplit(base)
    dbname = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {dbname}")
    folder = Path(tempfile.mkdtemp(prefix="agentctl-pgbouncer-"))
    folder.chmod(0o777)  # pgbouncer refuses to run as root: it runs as nobody here
    port = _free_port()
    (folder / "users.txt").write_text(f'"{parts.username}" "{parts.password}"\n')
    (folder / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"agentctl = host={parts.hostname} port={parts.port} dbname={dbname}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = plain\nauth_file = {folder / 'users.txt'}\n"
        "pool_mode = transaction\ndefault_pool_size = 3\nmax_client_conn = 200\n"
        "ignore_startup_parameters = extra_float_digits\n"
        f"logfile = {folder / 'log'}\npidfile = {folder / 'pid'}\n"
    )
    for name in ("users.txt", "pgbouncer.ini"):
        (folder / name).chmod(0o644)
    user = ["-u", "nobody"] if os.getuid() == 0 else []
    proc = subprocess.Popen([binary, *user, str(folder / "pgbouncer.ini")])
    url = f"postgresql://{parts.username}:{parts.password}@127.0.0.1:{port}/agentctl"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                psycopg.connect(url, connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                assert proc.poll() is None, (folder / "log").read_text()
                assert time.monotonic() < deadline, "pgbouncer did not come up"
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")
        shutil.rmtree(folder, ignore_errors=True)


RECIPE = """version: 1
name: through-the-pool
steps:
  - id: a
    run: echo one >> out.txt
  - id: b
    run: echo two >> out.txt
"""


def test_jobs_run_through_pgbouncer_in_transaction_mode(tmp_path, bouncer_url):
    recipe = write(tmp_path / "r.yaml", RECIPE)
    ids = []
    for n in range(4):
        workspace = tmp_path / f"ws{n}"
        workspace.mkdir()
        queued = agentctl(
            ["run", str(recipe), "--workspace", str(workspace), "--queue", "-q"],
            bouncer_url,
            tmp_path,
        )
        assert queued.returncode == 0, queued.stderr
        ids.append(queued.stdout.strip())
    worked = agentctl(["worker", "--once", "--concurrency", "2"], bouncer_url, tmp_path)
    assert worked.returncode == 0, worked.stderr
    jobs = json.loads(agentctl(["jobs", "--json"], bouncer_url, tmp_path).stdout)
    assert sorted(j["id"] for j in jobs) == sorted(ids)
    assert {j["state"] for j in jobs} == {"succeeded"}
    for n in range(4):
        assert (tmp_path / f"ws{n}" / "out.txt").read_text().split() == ["one", "two"]
    log = agentctl(["log", ids[0], "--json"], bouncer_url, tmp_path)
    seqs = [json.loads(line)["seq"] for line in log.stdout.splitlines()]
    assert seqs == list(range(1, len(seqs) + 1))
    ran = agentctl(
        ["run", str(recipe), "--workspace", str(tmp_path / "ws0")], bouncer_url, tmp_path
    )
    assert ran.returncode == 0, ran.stderr  # a foreground run: heartbeat, lease, appends
