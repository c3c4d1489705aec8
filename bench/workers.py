"""Workers and backends: throughput, wake-up latency, enqueue cost and an agent job's first
model request (issue 25's goals), claim latency and per-step cost, on SQLite and PostgreSQL;
DBOS side by side.

    .venv/bin/python bench/workers.py [--postgres URL] [--jobs N] [--workers 1,2,4]
        [--only drain|wake|enqueue|first|claim|step|dbos ...] [--dbos-python PATH]
        [--profile N]

Without --postgres (or AGENTCTL_BENCH_POSTGRES_URL) only SQLite is measured; start a
throwaway server with `eval "$(.ci/postgres.sh start)"` and pass $AGENTCTL_TEST_POSTGRES_URL.
Each PostgreSQL measurement runs in a schema of its own, dropped afterwards. Jobs are queued
with `agentctl.client.Client.enqueue`; subprocesses cache byte code in the temporary folder.

1. drain: N queued short jobs (one `run` step) or agent jobs (two model turns on the scripted
   OpenAI-compatible server tests/fakeserver.py, a `read_file` between), drained by W real
   `agentctl worker --once` processes, warm (default) and `--no-warm`: jobs/s, wall time, CPU
   per job (getrusage of the workers and all they forked or started, divided by N).
2. wake: W idle warm `agentctl worker` processes; one job queued every `--spacing` s:
   enqueue returned -> the job's `runner_started` event, p50/p99.
3. enqueue: CPU of `agentctl run R --queue` as a command and of `Client.enqueue` in process;
   `python -X importtime` of the command, the costliest imports.
4. first: agent jobs in a row in one warm worker: `runner_started` -> the first request at the
   scripted server (its arrival time), and enqueue -> that request.
5. claim: W threads, each with its own store, claim N queued jobs as fast as they can:
   claim latency p50/p99 (this is the queue's own cost, without running anything).
6. step: `Store.append` of one model_response-sized event (the per-step write), ordinary and
   durable, and a whole scripted agent job of S steps through `run_job`, per step.
With --profile N, after the goals: N short and N agent jobs drained by one warm worker
whose job children run under cProfile with a CPU clock (bench/_profiled_worker.py, a run
of its own: the figures above are measured without it), and the top entries by cumulative
CPU per job: where the short job's CPU and the agent job's time to its first request go.

7. dbos: bench/workers_dbos.py under `--dbos-python` (DBOS installed there, never here): the
   same one-step jobs on a DBOS queue on the same server, in the tables of 1 and 2.
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
import threading
import time
from contextlib import contextmanager
from itertools import product
from pathlib import Path

from _common import ROOT, BenchModel, agent_recipe, deps, make_job, table
from _goals import goal_rows
from _profile import profile_rows

sys.path.insert(0, str(ROOT / "tests"))

from agentctl.client import Client
from agentctl.engine.run import run_job
from agentctl.store import JobUpdate, NewEvent, open_store

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


def bench_drain(kinds, pg_url, folder: Path, args: argparse.Namespace) -> list[list]:
    from fakeserver import ScriptedOpenAIServer

    rows = []
    env = bench_env(folder)
    script = [{"tool_calls": [{"name": "read_file", "arguments": {"path": "out.txt"}}]}]
    script.append({"content": "done"})
    with ScriptedOpenAIServer(script, by_turn=True) as server:
        recipes = {"short": folder / "short.yaml", "agent": folder / "agent.yaml"}
        recipes["short"].write_text(SHORT)
        recipes["agent"].write_text(AGENT.format(base=server.base_url))
        warm_up(folder, env, [r for k, r in recipes.items() if k == "short" or args.agent_jobs])
        runs = [("short", args.jobs), ("agent", args.agent_jobs)]
        for label, count in (run for run in runs if run[1] > 0):
            for kind, mode, workers in product(kinds, args.modes, args.workers):
                ws = folder / f"ws-{label}-{kind}-{mode}-{workers}"
                ws.mkdir()
                (ws / "out.txt").write_text("hello\n")
                with database(kind, folder, pg_url) as target:
                    # The same workers on an empty queue: their start-up and exit alone.
                    idle_wall, idle_cpu = drain(target, workers, env, folder, mode == "warm")
                    queue(target, recipes[label], ws, count)
                    wall, cpu = drain(target, workers, env, folder, mode == "warm")
                    done = succeeded(target)
                note = f"  {label} {kind} {mode} workers={workers}: {done}/{count} in {wall:.1f} s"
                print(note, file=sys.stderr, flush=True)
                net = wall - idle_wall  # within noise of the start-up alone: not shown
                steady = f"{done / net:.2f}" if net > 0.2 * wall else "-"
                rows.append([label, kind, mode, workers, f"{done}/{count}", f"{wall:.1f}",
                             f"{done / wall:.2f}", f"{cpu / count * 1000:.0f}",
                             f"{idle_wall:.1f}", steady,
                             f"{(cpu - idle_cpu) / count * 1000:.0f}"])  # fmt: skip
    return rows


def bench_claim(kinds, pg_url, folder: Path, jobs: int) -> list[list]:
    rows = []
    recipe = folder / "claim.yaml"
    recipe.write_text(SHORT)
    for kind in kinds:
        for workers in (1, 2, 4):
            with database(kind, folder, pg_url) as target:
                queue(target, recipe, folder, jobs)
                latencies: list[float] = []
                lock = threading.Lock()

                def claimer(
                    slot: int, target: str = target, latencies: list = latencies, lock=lock
                ) -> None:
                    store = open_store(target)
                    mine = []
                    while True:
                        started = time.perf_counter()
                        got = store.claim_job(
                            ["default"], host="bench", pid=10_000 + slot, start="",
                            now=time.time(), ttl=3600,
                        )  # fmt: skip
                        mine.append(time.perf_counter() - started)
                        if got is None:
                            break
                    store.close()
                    with lock:
                        latencies.extend(mine[:-1])

                threads = [threading.Thread(target=claimer, args=(n,)) for n in range(workers)]
                started = time.perf_counter()
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                wall = time.perf_counter() - started
            latencies.sort()
            p50 = latencies[len(latencies) // 2] * 1000
            p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
            rows.append(
                [
                    kind,
                    workers,
                    len(latencies),
                    f"{p50:.2f}",
                    f"{p99:.2f}",
                    f"{len(latencies) / wall:.0f}",
                ]
            )
    return rows


def bench_step(kinds, pg_url, folder: Path, steps: int) -> list[list]:
    rows = []
    data = {"key": "work/t1", "message": {"role": "assistant", "content": "x" * 150}}
    for kind in kinds:
        with database(kind, folder, pg_url) as target:
            store = open_store(target)
            job = make_job(store, folder, agent_recipe(["read_file"]))
            for durable in (False, True):
                started = time.perf_counter()
                for _ in range(steps):
                    store.append_events(job, [NewEvent("model_response", "work", data)], now=time.time(),
                                 durable=durable, update=JobUpdate(add={"model_calls": 1}))  # fmt: skip
                per = (time.perf_counter() - started) / steps * 1000
                rows.append(
                    [kind, f"append ({'durable' if durable else 'ordinary'})", f"{per:.3f}"]
                )
            (folder / "f.txt").write_text("tiny\n")
            # The same call every step: lift the repeat limit, which would stop it at 3.
            job = make_job(store, folder, agent_recipe(["read_file"]))
            model = BenchModel(steps, ("read_file", {"path": "f.txt"}))
            started = time.perf_counter()
            outcome = run_job(job, deps(store, model))
            assert outcome.state == "succeeded", outcome
            per = (time.perf_counter() - started) / steps * 1000
            rows.append([kind, f"agent step (read_file), {steps} steps", f"{per:.3f}"])
            store.close()
    return rows


def percentiles(values: list[float]) -> tuple[float, float]:
    """p50 and p99 of `values` (seconds) in milliseconds."""
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return ordered[len(ordered) // 2] * 1000, p99 * 1000


def start_workers(target: str, count: int, env: dict[str, str], cwd: Path) -> list:
    """`count` long-running `agentctl worker` processes (warm, the default) on `target`."""
    env = {**env, "AGENTCTL_DB": target}
    argv = [sys.executable, "-m", "agentctl", "worker"]
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


def bench_wake(kinds, pg_url, folder: Path, args: argparse.Namespace) -> list[list]:
    """Idle warm workers; one job queued every `spacing` s: enqueue → runner_started."""
    rows = []
    env = bench_env(folder)
    recipe = folder / "wake.yaml"
    recipe.write_text(SHORT)
    for kind, workers in product(kinds, args.workers):
        ws = folder / f"ws-wake-{kind}-{workers}"
        ws.mkdir()
        with database(kind, folder, pg_url) as target, Client(target) as client:
            procs = start_workers(target, workers, env, folder)
            try:
                # Each worker runs one job first, so the measured ones find them idle and warm.
                wait_ended(client.store, queue(target, recipe, ws, workers * 2), timeout=120)
                time.sleep(1.0)
                queued: list[tuple[str, float]] = []
                folders = [job_folder(ws) for _ in range(args.wake_jobs)]
                for folder_of_job in folders:
                    job = client.enqueue(recipe, workspace=folder_of_job)
                    queued.append((job, time.time()))
                    time.sleep(args.spacing)
                wait_ended(client.store, [job for job, _ in queued])
                latency = [started_at(client.store, job) - at for job, at in queued]
            finally:
                stop_workers(procs)
        p50, p99 = percentiles(latency)
        rows.append([kind, "agentctl", workers, len(latency), f"{p50:.0f}", f"{p99:.0f}",
                     f"{max(latency) * 1000:.0f}", "met" if p99 <= 100 else "missed"])  # fmt: skip
    return rows


def bench_enqueue(kinds, pg_url, folder: Path, runs: int) -> list[list]:
    """CPU of `agentctl run R --queue` as a command, and of `Client.enqueue` per call."""
    rows = []
    env = bench_env(folder)
    recipe = folder / "enqueue.yaml"
    recipe.write_text(SHORT)
    ws = folder / "ws-enqueue"
    ws.mkdir(exist_ok=True)
    argv = [sys.executable, "-m", "agentctl", "run", str(recipe), "--workspace", str(ws)]
    argv += ["--queue", "default", "--quiet"]
    for kind in kinds:
        with database(kind, folder, pg_url) as target:
            env["AGENTCTL_DB"] = target
            subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)  # warm-up
            cpu, started = children_cpu(), time.perf_counter()
            for _ in range(runs):
                subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
            wall, cpu = time.perf_counter() - started, children_cpu() - cpu
            rows.append([kind, "`agentctl run R --queue` (command)", f"{cpu / runs * 1000:.0f}",
                         f"{wall / runs * 1000:.0f}"])  # fmt: skip
            with Client(target) as client:
                cpu0, wall0 = time.process_time(), time.perf_counter()
                client.enqueue(recipe, workspace=ws)
                first_cpu, first = time.process_time() - cpu0, time.perf_counter() - wall0
                cpu0, wall0 = time.process_time(), time.perf_counter()
                for _ in range(runs):
                    client.enqueue(recipe, workspace=ws)
                cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            rows.append([kind, "Client.enqueue, first call", f"{first_cpu * 1000:.1f}",
                         f"{first * 1000:.1f}"])  # fmt: skip
            rows.append([kind, "Client.enqueue, later calls", f"{cpu / runs * 1000:.1f}",
                         f"{wall / runs * 1000:.1f}"])  # fmt: skip
    return rows


def import_profile(folder: Path, top: int = 12) -> list[list]:
    """`python -X importtime` of the enqueue command: the costliest imports by cumulative
    time, with the module that imported each."""
    env = {**bench_env(folder), "AGENTCTL_DB": str(folder / "importtime.db")}
    recipe = folder / "enqueue.yaml"
    argv = [sys.executable, "-X", "importtime", "-m", "agentctl", "run", str(recipe)]
    argv += ["--workspace", str(folder / "ws-enqueue"), "--queue", "default", "--quiet"]
    subprocess.run(argv, env=env, capture_output=True)  # warm-up (byte code, database)
    lines = subprocess.run(argv, env=env, capture_output=True, text=True).stderr.splitlines()
    entries = []  # (cumulative µs, self µs, depth, name), in the order Python prints them
    for line in lines:
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        own, cumulative, name = (part for part in line[len("import time:") :].split("|"))
        depth = (len(name) - len(name.lstrip())) // 2
        entries.append((int(cumulative), int(own), depth, name.strip()))
    parents: dict[int, str] = {}
    parent_of = {}
    for _, _, depth, name in reversed(entries):  # a parent prints after its children
        parents[depth] = name
        parent_of[name] = parents.get(depth - 1, "")
    total = sum(own for _, own, _, _ in entries)
    rows = [["(all imports)", f"{total / 1000:.0f}", "", ""]]
    for cumulative, own, _, name in sorted(entries, reverse=True)[:top]:
        rows.append([name, f"{cumulative / 1000:.0f}", f"{own / 1000:.1f}", parent_of[name]])
    return rows


class TimedRequests(list):
    """The fake server's request list, each request stamped with time.time() on arrival."""

    def append(self, item: dict) -> None:
        item["at"] = time.time()
        super().append(item)


def bench_first(kinds, pg_url, folder: Path, runs: int) -> list[list]:
    """An agent job's first model request after its claim, in one warm worker, `runs` jobs
    in a row (the first of a worker imports litellm)."""
    from fakeserver import ScriptedOpenAIServer

    rows = []
    env = bench_env(folder)
    for kind in kinds:
        with ScriptedOpenAIServer([{"content": "done"}], by_turn=True) as server:
            server.requests = TimedRequests()
            recipe = folder / "first.yaml"
            recipe.write_text(AGENT.format(base=server.base_url))
            ws = folder / f"ws-first-{kind}"
            ws.mkdir()
            with database(kind, folder, pg_url) as target, Client(target) as client:
                procs = start_workers(target, 1, env, folder)
                try:
                    for run in range(1, runs + 1):
                        queued = time.time()
                        job = client.enqueue(recipe, workspace=ws, shared_workspace=True)
                        wait_ended(client.store, [job], timeout=120)
                        start = started_at(client.store, job)
                        first = min(r["at"] for r in server.chat_requests if r["at"] >= start)
                        rows.append([kind, run, f"{(first - start) * 1000:.0f}",
                                     f"{(first - queued) * 1000:.0f}"])  # fmt: skip
                finally:
                    stop_workers(procs)
    return rows


def bench_profile(folder: Path, jobs: int, top: int) -> None:
    """`jobs` short and `jobs` agent jobs through one profiled warm worker (SQLite): the top
    entries of their children's CPU profile, per job."""
    from fakeserver import ScriptedOpenAIServer

    env = bench_env(folder)
    script = [{"tool_calls": [{"name": "read_file", "arguments": {"path": "out.txt"}}]}]
    with ScriptedOpenAIServer([*script, {"content": "done"}], by_turn=True) as server:
        recipes = {"short": folder / "short.yaml", "agent": folder / "agent.yaml"}
        recipes["short"].write_text(SHORT)
        recipes["agent"].write_text(AGENT.format(base=server.base_url))
        for label, recipe in recipes.items():
            ws, out = folder / f"ws-profile-{label}", folder / f"profile-{label}"
            ws.mkdir()
            with database("sqlite", folder, None) as target:
                queue(target, recipe, ws, 1)
                drain(target, 1, env, folder, profile_dir=folder / "profile-warm-up")
                queue(target, recipe, ws, jobs)
                drain(target, 1, env, folder, profile_dir=out)
            count, total, rows = profile_rows(out, top)
            print(f"\n   {label} jobs: the job child's CPU profile, {count} jobs, {total:.0f} ms"
                  " CPU per job under cProfile, its threads included (from the fork's run() to the job's end;"
                  " the sandboxed step's own processes are not in it)")  # fmt: skip
            print(table(["function", "calls/job", "own ms/job", "cumulative ms/job"], rows))


def run_dbos(python: str, pg_url: str, args: argparse.Namespace) -> None:
    """bench/workers_dbos.py under DBOS's own Python; it prints its own tables."""
    argv = [python, str(ROOT / "bench" / "workers_dbos.py"), "--postgres", pg_url]
    argv += ["--jobs", str(args.jobs), "--workers", ",".join(map(str, args.workers))]
    argv += ["--wake-jobs", str(args.wake_jobs), "--spacing", str(args.spacing)]
    subprocess.run(argv, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("AGENTCTL_BENCH_POSTGRES_URL"))
    parser.add_argument("--jobs", type=int, default=100, help="short jobs per drain")
    parser.add_argument("--agent-jobs", type=int, default=12, help="agent jobs per drain")
    parser.add_argument("--workers", type=lambda v: [int(n) for n in v.split(",")],
                        default=[1, 2, 4], help="worker counts, e.g. 1,2,4")  # fmt: skip
    parser.add_argument("--modes", type=lambda v: v.split(","), default=["warm", "no-warm"],
                        help="worker modes for the drain: warm,no-warm")  # fmt: skip
    parser.add_argument("--wake-jobs", type=int, default=50, help="jobs per wake-up run")
    parser.add_argument("--spacing", type=float, default=0.2, help="seconds between them")
    parser.add_argument("--enqueues", type=int, default=10, help="enqueues per measurement")
    parser.add_argument("--first-runs", type=int, default=3, help="agent jobs in one worker")
    parser.add_argument("--claims", type=int, default=400, help="jobs per claim run")
    parser.add_argument("--steps", type=int, default=200, help="steps per step run")
    parser.add_argument("--dbos-python", help="a Python with dbos installed: DBOS side by side")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="then profile N jobs' children (short and agent)")  # fmt: skip
    parser.add_argument("--only", choices=PARTS, action="append", help="these parts only")
    args = parser.parse_args()
    kinds = ["sqlite"] + (["postgres"] if args.postgres else [])
    os.environ["FAKE_KEY"] = "sk-bench"  # enqueueing an agent job checks its model's key
    parts = args.only or list(PARTS)
    with tempfile.TemporaryDirectory(
        prefix="agentctl-bench-", dir=os.environ.get("BENCH_DIR")
    ) as tmp:
        folder = Path(tmp)
        results: dict[str, list[list]] = {}
        print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cpus; backends {kinds}")
        if "drain" in parts:
            print(
                "\n1. draining queued jobs with real `agentctl worker --once` processes"
                " (goal: >= 20 short jobs/s with 4 workers; CPU = workers + jobs + steps;"
                " net = minus the same workers on an empty queue: start-up and exit)"
            )
            print(
                table(
                    [
                        "jobs",
                        "backend",
                        "mode",
                        "workers",
                        "succeeded",
                        "wall s",
                        "jobs/s",
                        "CPU ms/job",
                        "idle workers s",
                        "jobs/s net",
                        "CPU ms/job net",
                    ],
                    results.setdefault("drain", bench_drain(kinds, args.postgres, folder, args)),
                )
            )
        if "wake" in parts:
            print(
                f"\n2. enqueue -> runner_started with idle warm workers, {args.wake_jobs}"
                f" jobs {args.spacing * 1000:.0f} ms apart (goal: p99 <= 100 ms)"
            )
            print(
                table(
                    ["backend", "system", "workers", "jobs", "p50 ms", "p99 ms", "max ms", "goal"],
                    results.setdefault("wake", bench_wake(kinds, args.postgres, folder, args)),
                )
            )
        if "enqueue" in parts:
            print(f"\n3. enqueue cost, mean of {args.enqueues} (goal: <= 50 ms CPU)")
            print(
                table(
                    ["backend", "how", "CPU ms", "wall ms"],
                    results.setdefault(
                        "enqueue", bench_enqueue(kinds, args.postgres, folder, args.enqueues)
                    ),
                )
            )
            print("\n   `python -X importtime` of the command: costliest imports")
            print(
                table(["module", "cumulative ms", "self ms", "imported by"], import_profile(folder))
            )
        if "first" in parts:
            print(
                "\n4. an agent job's first model request, one warm worker, jobs in a row"
                " (goal: <= 50 ms after the claim; the worker's first job imports litellm)"
            )
            print(
                table(
                    ["backend", "job", "runner_started -> request ms", "enqueue -> request ms"],
                    results.setdefault(
                        "first", bench_first(kinds, args.postgres, folder, args.first_runs)
                    ),
                )
            )
        if "claim" in parts:
            print("\n5. claim latency (claim_job alone; W threads, own connections)")
            print(
                table(
                    ["backend", "workers", "claims", "p50 ms", "p99 ms", "claims/s"],
                    bench_claim(kinds, args.postgres, folder, args.claims),
                )
            )
        if "step" in parts:
            print("\n6. per-step cost")
            print(
                table(
                    ["backend", "what", "ms per step"],
                    bench_step(kinds, args.postgres, folder, args.steps),
                )
            )
        if results:
            print(f"\nGoals (issue 25), load average now {os.getloadavg()[0]:.1f}")
            print(table(["goal", "backend", "measured", ""], goal_rows(results)))
        if args.profile:
            print("\nProfile: where a warm job child's CPU goes (one warm worker, SQLite)")
            bench_profile(folder, args.profile, top=25)
        if "dbos" in parts and args.dbos_python:
            if not args.postgres:
                raise SystemExit("DBOS side by side needs --postgres URL")
            print("\n7. DBOS side by side (same PostgreSQL server, its own database)")
            sys.stdout.flush()
            run_dbos(args.dbos_python, args.postgres, args)


PARTS = ("drain", "wake", "enqueue", "first", "claim", "step", "dbos")


if __name__ == "__main__":
    main()
