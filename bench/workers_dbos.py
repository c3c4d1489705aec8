"""DBOS side by side with bench/workers.py: the same one-step jobs (a workflow with one step
running `sh -c 'echo hi >> out.txt'` through subprocess) on a DBOS queue, same PostgreSQL server.

    /tmp/dbos-venv/bin/python bench/workers_dbos.py --postgres URL [--jobs N] [--workers 1,2,4]

Run with a Python that has `dbos` installed (never agentctl's venv; see bench/README.md).
bench/workers.py runs it with `--dbos-python PATH`. Each run uses a database of its own on the
server (dropped afterwards); workers are W processes of this script (`worker` mode), each a
DBOS executor with worker_concurrency 1 and 50 ms queue polling.

1. drain: N workflows enqueued with DBOSClient, then W workers started: jobs/s, wall time
   (worker start-up included, as for `agentctl worker --once`), CPU per job of the workers.
2. wake: W idle workers; one workflow enqueued every `spacing` s: enqueue -> workflow start
   (the workflow's first line stamps time.time()), p50/p99.
"""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from _table import table

QUEUE = "bench"
WORKFLOW = "job"


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def serve(url: str, slot: int, folder: str) -> None:
    """A DBOS worker process: launch, run queued workflows until SIGTERM."""
    from dbos import DBOS, DBOSConfig

    config: DBOSConfig = {
        "name": "agentctl-bench",
        "system_database_url": url,
        "executor_id": f"bench-worker-{slot}",
        "application_version": "bench",
        "log_level": "WARNING",
    }
    DBOS(config=config)

    @DBOS.step()
    def echo() -> None:
        subprocess.run(["sh", "-c", "echo hi >> out.txt"], cwd=folder, check=True)

    @DBOS.workflow(name=WORKFLOW)
    def job() -> float:
        started = time.time()
        echo()
        return started

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    DBOS.launch()
    DBOS.register_queue(QUEUE, worker_concurrency=1, polling_interval_sec=0.05)
    Path(folder, f"ready-{slot}").touch()
    while not stop:
        time.sleep(0.1)
    DBOS.destroy()


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def start_workers(url: str, count: int, folder: Path) -> list[subprocess.Popen]:
    argv = [sys.executable, __file__, "worker", "--postgres", url, "--folder", str(folder)]
    return [subprocess.Popen([*argv, "--slot", str(n)]) for n in range(count)]


def stop_workers(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Bench:
    """A fresh database on the server, a DBOSClient on it, and SQL to count results."""

    def __init__(self, server_url: str):
        import psycopg

        self.server_url = server_url
        self.name = f"dbos_bench_{secrets.token_hex(4)}"
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {self.name}")
        self.url = with_database(server_url, self.name)
        self.client = None

    def connect(self):
        from dbos import DBOSClient

        self.client = DBOSClient(system_database_url=self.url)
        return self.client

    def enqueue(self) -> str:
        handle = self.client.enqueue(
            {"queue_name": QUEUE, "workflow_name": WORKFLOW, "app_version": "bench"}
        )
        return handle.get_workflow_id()

    def count(self, status: str = "SUCCESS") -> int:
        import psycopg

        with psycopg.connect(self.url) as conn:
            sql = "SELECT count(*) FROM dbos.workflow_status WHERE status = %s AND name = %s"
            return conn.execute(sql, (status, WORKFLOW)).fetchone()[0]

    def wait_count(self, count: int, timeout: float = 300.0) -> int:
        deadline = time.monotonic() + timeout
        while (done := self.count()) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return done

    def close(self) -> None:
        import psycopg

        if self.client is not None:
            self.client.destroy()
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {self.name} WITH (FORCE)")


def prepare(bench: Bench, folder: Path) -> None:
    """Launch one worker once so DBOS creates its tables before the client uses them."""
    ready = folder / "ready-0"
    ready.unlink(missing_ok=True)
    procs = start_workers(bench.url, 1, folder)
    while procs[0].poll() is None and not ready.exists():
        time.sleep(0.05)
    stop_workers(procs)
    bench.connect()


def drain(server_url: str, folder: Path, jobs: int, workers: int) -> list:
    bench = Bench(server_url)
    try:
        prepare(bench, folder)
        for _ in range(jobs):
            bench.enqueue()
        cpu, started = children_cpu(), time.perf_counter()
        procs = start_workers(bench.url, workers, folder)
        done = bench.wait_count(jobs)
        wall = time.perf_counter() - started
        stop_workers(procs)
        cpu = children_cpu() - cpu
    finally:
        bench.close()
    return ["short", "postgres", "dbos", workers, f"{done}/{jobs}", f"{wall:.1f}",
            f"{done / wall:.2f}", f"{cpu / jobs * 1000:.0f}"]  # fmt: skip


def wake(server_url: str, folder: Path, jobs: int, workers: int, spacing: float) -> list:
    bench = Bench(server_url)
    try:
        prepare(bench, folder)
        procs = start_workers(bench.url, workers, folder)
        try:
            for _ in range(workers * 2):  # warm-up: every worker launched and polling
                bench.enqueue()
            bench.wait_count(workers * 2, timeout=120)
            time.sleep(1.0)
            queued = []
            for _ in range(jobs):
                handle = bench.client.enqueue(
                    {"queue_name": QUEUE, "workflow_name": WORKFLOW, "app_version": "bench"}
                )
                queued.append((handle, time.time()))
                time.sleep(spacing)
            latency = [handle.get_result(polling_interval_sec=0.05) - at for handle, at in queued]
        finally:
            stop_workers(procs)
    finally:
        bench.close()
    ordered = sorted(latency)
    p50 = ordered[len(ordered) // 2] * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    return ["postgres", "dbos", workers, len(latency), f"{p50:.0f}", f"{p99:.0f}",
            f"{ordered[-1] * 1000:.0f}", "met" if p99 <= 100 else "missed"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", default="bench", choices=["bench", "worker"])
    parser.add_argument("--postgres", required=True, help="the server's URL (any database)")
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--wake-jobs", type=int, default=50)
    parser.add_argument("--spacing", type=float, default=0.2)
    parser.add_argument("--slot", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode == "worker":
        serve(args.postgres, args.slot, args.folder)
        return
    import dbos

    counts = [int(n) for n in args.workers.split(",")]
    with tempfile.TemporaryDirectory(prefix="dbos-bench-", dir=os.environ.get("BENCH_DIR")) as tmp:
        folder = Path(tmp)
        version = getattr(dbos, "__version__", None) or _version()
        print(f"DBOS {version}; load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cpus")
        print(f"\nDBOS drain: {args.jobs} one-step workflows, W worker processes")
        rows = [drain(args.postgres, folder, args.jobs, w) for w in counts]
        print(table(["jobs", "backend", "mode", "workers", "succeeded", "wall s", "jobs/s",
                     "CPU ms/job"], rows))  # fmt: skip
        print(f"\nDBOS enqueue -> workflow start, idle workers, {args.wake_jobs} workflows"
              f" {args.spacing * 1000:.0f} ms apart (goal: p99 <= 100 ms)")  # fmt: skip
        rows = [wake(args.postgres, folder, args.wake_jobs, w, args.spacing) for w in counts]
        print(table(["backend", "system", "workers", "jobs", "p50 ms", "p99 ms", "max ms",
                     "goal"], rows))  # fmt: skip


def _version() -> str:
    from importlib.metadata import version

    return version("dbos")


if __name__ == "__main__":
    main()
