"""Parts 2-6 of bench/workers.py: wake-up, enqueue cost, first request, claim latency and
per-step cost (each returns its table's rows)."""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
from itertools import product
from pathlib import Path

from _common import ROOT, BenchModel, agent_recipe, deps, make_job
from _fleet import (
    AGENT,
    SHORT,
    bench_env,
    children_cpu,
    database,
    job_folder,
    percentiles,
    queue,
    start_workers,
    started_at,
    stop_workers,
    wait_ended,
)

sys.path.insert(0, str(ROOT / "tests"))

from agentctl.client import Client
from agentctl.engine.run import run_job
from agentctl.store import JobUpdate, NewEvent, open_store


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


def bench_wake(kinds, pg_url, folder: Path, args: argparse.Namespace) -> list[list]:
    """Idle warm workers; one job queued every `spacing` s: enqueue → runner_started."""
    rows = []
    for kind, workers in product(kinds, args.workers):
        latency = [started - at for _, at, started in wake_run(kind, workers, pg_url, folder, args)]
        p50, p99 = percentiles(latency)
        rows.append([kind, "agentctl", workers, len(latency), f"{p50:.0f}", f"{p99:.0f}",
                     f"{max(latency) * 1000:.0f}", "met" if p99 <= 100 else "missed"])  # fmt: skip
    return rows


def wake_run(
    kind: str, workers: int, pg_url, folder: Path, args: argparse.Namespace,
    trace: Path | None = None,
) -> list[tuple[str, float, float]]:  # fmt: skip
    """One wake-up run: each job, when its enqueue returned, its `runner_started`. `trace`: the
    workers are bench/_phases.py's traced ones, writing their timestamps there."""
    env = bench_env(folder)
    recipe = folder / "wake.yaml"
    recipe.write_text(SHORT)
    ws = folder / f"ws-wake-{kind}-{workers}{'-traced' if trace else ''}"
    ws.mkdir()
    argv = (
        None if trace is None else [sys.executable, str(ROOT / "bench" / "_phases.py"), str(trace)]
    )
    with database(kind, folder, pg_url) as target, Client(target) as client:
        procs = start_workers(target, workers, env, folder, argv=argv)
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
            return [(job, at, started_at(client.store, job)) for job, at in queued]
        finally:
            stop_workers(procs)


def bench_enqueue(kinds, pg_url, folder: Path, runs: int) -> list[list]:
    """CPU of `agentctl run R --queue` as a command (agentctl.quick with its cache of validated
    recipes hit and missed, and the typer app), of Python's own start, and of
    `Client.enqueue` per call."""
    rows = []
    env = bench_env(folder)
    env["XDG_CACHE_HOME"] = str(folder / "cache")  # the cache of validated recipes
    recipe = folder / "enqueue.yaml"
    recipe.write_text(SHORT)
    ws = folder / "ws-enqueue"
    ws.mkdir(exist_ok=True)
    argv = [sys.executable, "-m", "agentctl", "run", str(recipe), "--workspace", str(ws)]
    argv += ["--queue", "default", "--quiet"]
    for how, python in (
        ("python -c pass", ["-c", "pass"]),
        ("python -S -c pass", ["-S", "-c", "pass"]),
    ):
        cpu, wall = _mean_cpu([sys.executable, *python], env, runs)
        rows.append(["-", f"{how} (Python's floor)", f"{cpu:.0f}", f"{wall:.0f}"])
    for kind in kinds:
        with database(kind, folder, pg_url) as target:
            env["AGENTCTL_DB"] = target
            cpu, wall = _mean_cpu(argv, env, runs)  # its warm-up run fills the cache
            rows.append(
                [kind, "`agentctl run R --queue` (command, cache hit)", f"{cpu:.0f}", f"{wall:.0f}"]
            )
            cpu, wall = _mean_cpu(argv, env, runs, fresh_cache=folder / "caches")
            rows.append(
                [
                    kind,
                    "`agentctl run R --queue` (command, cache miss)",
                    f"{cpu:.0f}",
                    f"{wall:.0f}",
                ]
            )
            cpu, wall = _mean_cpu(argv, {**env, "AGENTCTL_SLOW_ENQUEUE": "1"}, runs)
            rows.append(
                [kind, "`agentctl run R --queue` (command, typer app)", f"{cpu:.0f}", f"{wall:.0f}"]
            )
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


def _mean_cpu(argv, env, runs: int, fresh_cache: Path | None = None) -> tuple[float, float]:
    """Mean CPU and wall ms of running `argv` `runs` times (after one run that writes the
    byte code); with `fresh_cache`, each run in an empty cache dir of its own (a miss)."""
    cpu, started = None, None
    for i in range(-1, runs):
        if i == 0:
            cpu, started = children_cpu(), time.perf_counter()
        run_env = (
            env if fresh_cache is None else {**env, "XDG_CACHE_HOME": str(fresh_cache / str(i))}
        )
        subprocess.run(argv, env=run_env, check=True, stdout=subprocess.DEVNULL)
    wall, cpu = time.perf_counter() - started, children_cpu() - cpu
    return cpu / runs * 1000, wall / runs * 1000


def import_profile(folder: Path, top: int = 12) -> list[list]:
    """`python -X importtime` of the enqueue command: the costliest imports by cumulative
    time, with the module that imported each."""
    env = {**bench_env(folder), "AGENTCTL_DB": str(folder / "importtime.db")}
    env["XDG_CACHE_HOME"] = str(folder / "cache")  # after the warm-up: a cache hit
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
