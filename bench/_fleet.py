"""What the fleet benches share (bench/workers.py and bench/_fleet_parts.py): a store per
backend, queued jobs, real `agentctl worker` processes and their CPU."""

from __future__ import annotations

import os
import resource
import secrets
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from _common import ROOT

sys.path.insert(0, str(ROOT / "tests"))

from agentctl.client import Client
from agentctl.store import open_store

LIMITS = "limits: {max_repeats: 1000000}\n"
SHORT = "version: 1\nname: short\nsteps:\n  - id: a\n    run: echo hi >> out.txt\n"
AGENT = """version: 1
name: agent
models:
  default: {{model: openai/fake-model, api_base: "{base}", api_key_env: FAKE_KEY}}
steps:
  - id: work
    agent:
      instructions: Read the file.
      tools: [read_file]
"""


@contextmanager
def database(kind: str, folder: Path, pg_url: str | None):
    """A fresh database of `kind`: a SQLite file, or a PostgreSQL schema."""
    if kind == "sqlite":
        yield str(folder / f"{secrets.token_hex(4)}.db")
        return
    import psycopg

    assert pg_url
    schema = f"bench_{secrets.token_hex(4)}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in pg_url else "?"
    try:
        yield f"{pg_url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def job_folder(workspace: Path) -> Path:
    """A folder of its own under `workspace` for one job (with a copy of out.txt): jobs in one
    folder run one at a time (`Client.enqueue` has no --shared-workspace)."""
    folder = workspace / f"job-{secrets.token_hex(4)}"
    folder.mkdir()
    (folder / "out.txt").write_text("hello\n")
    return folder


def queue(target: str, recipe: Path, workspace: Path, count: int) -> list[str]:
    """`count` jobs queued through the Python API (`agentctl.client`), as a service would,
    each in a folder of its own under `workspace`."""
    folders = [job_folder(workspace) for _ in range(count)]
    with Client(target) as client:
        return [client.enqueue(recipe, workspace=folder) for folder in folders]


def bench_env(folder: Path) -> dict[str, str]:
    """The workers' environment: no provider keys; byte code cached in the temporary folder
    (an installed agentctl has .pyc files; this checkout may run without writing them)."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(FAKE_KEY="sk-bench", LITELLM_LOCAL_MODEL_COST_MAP="True", PYTHONPATH=str(ROOT))
    # Without the pop an inherited PYTHONDONTWRITEBYTECODE=1 (this machine's sessions set it)
    # left the prefix empty: every start compiled every module from source, the standard
    # library's too (the prefix hides its __pycache__), e.g. ~170 ms in `site` alone.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(folder / "pycache")
    return env


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's waited-for children and theirs."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def drain(target: str, workers: int, env: dict[str, str], cwd: Path, warm: bool = True,
          profile_dir: Path | None = None):  # fmt: skip
    """Wall seconds and CPU seconds of W `agentctl worker --once` processes draining the queue
    (CPU: the workers and everything they forked or started, jobs and steps included);
    `profile_dir`: each job child profiled into it (bench/_profiled_worker.py)."""
    env = {**env, "AGENTCTL_DB": target}
    flags = [] if warm else ["--no-warm"]
    program = ["-m", "agentctl"]
    if profile_dir is not None:
        program = [str(ROOT / "bench" / "_profiled_worker.py"), str(profile_dir)]
    cpu = children_cpu()
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, *program, "worker", "--once", *flags],
            env=env,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    for proc in procs:
        proc.wait()
    return time.perf_counter() - started, children_cpu() - cpu


def succeeded(target: str) -> int:
    store = open_store(target)
    try:
        return sum(1 for j in store.list_jobs() if j["state"] == "succeeded")
    finally:
        store.close()


def warm_up(folder: Path, env: dict[str, str], recipes: list[Path]) -> None:
    """One job of each recipe through each kind of worker, uncounted: fills the byte-code
    cache, so the first measured run does not pay for compiling agentctl."""
    ws = folder / "ws-warm-up"
    ws.mkdir(exist_ok=True)
    (ws / "out.txt").write_text("hello\n")
    for warm in (True, False):
        target = str(folder / f"warm-up-{warm}.db")
        for recipe in recipes:
            queue(target, recipe, ws, 1)
        drain(target, 1, env, folder, warm)


def percentiles(values: list[float]) -> tuple[float, float]:
    """p50 and p99 of `values` (seconds) in milliseconds."""
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return ordered[len(ordered) // 2] * 1000, p99 * 1000


def start_workers(
    target: str, count: int, env: dict[str, str], cwd: Path, argv: list[str] | None = None
) -> list:
    """`count` long-running `agentctl worker` processes (warm, the default) on `target`;
    `argv`: what runs agentctl instead of `python -m agentctl` (a traced worker)."""
    env = {**env, "AGENTCTL_DB": target}
    argv = [*(argv or [sys.executable, "-m", "agentctl"]), "worker"]
    return [subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL) for _ in range(count)]  # fmt: skip


def stop_workers(procs: list) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_ended(store, jobs: list[str], timeout: float = 300.0) -> None:
    """Until every job of `jobs` is no longer queued or running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [store.get_job(job)["state"] for job in jobs]
        if all(state not in ("queued", "running", "pending") for state in states):
            return
        time.sleep(0.05)
    raise SystemExit(f"jobs still queued or running after {timeout:.0f} s: {states}")


def started_at(store, job: str) -> float:
    """When the job's runner started (its `runner_started` event): just after the claim."""
    return store.read_events(job, types=["runner_started"])[0].ts
