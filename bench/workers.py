"""Workers and backends: jobs/s and claim latency with 1, 2 and 4 workers; per-step cost on
SQLite and on PostgreSQL.

    .venv/bin/python bench/workers.py [--postgres URL] [--jobs N] [--agent-jobs N]

Without --postgres (or AGENTCTL_BENCH_POSTGRES_URL) only SQLite is measured; start a
throwaway server with `eval "$(.ci/postgres.sh start)"` and pass $AGENTCTL_TEST_POSTGRES_URL.
Each PostgreSQL measurement runs in a schema of its own, dropped afterwards.

1. drain: N queued short jobs (one `run` step) or agent jobs (two model turns on the scripted
   OpenAI-compatible server tests/fakeserver.py, a `read_file` between), drained by W real
   `agentctl worker --once` processes: jobs/s, wall time.
2. claim: W threads, each with its own store, claim N queued jobs as fast as they can:
   claim latency p50/p99 (this is the queue's own cost, without running anything).
3. step: `Store.append` of one model_response-sized event (the per-step write), ordinary and
   durable, and a whole scripted agent job of S steps through `run_job`, per step.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from _common import ROOT, BenchModel, agent_recipe, deps, make_job, table

sys.path.insert(0, str(ROOT / "tests"))

from agentctl.engine.jobs import create_job
from agentctl.engine.runner import run_job
from agentctl.recipe.schema import load_recipe
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


def queue(target: str, recipe: Path, workspace: Path, count: int) -> None:
    store = open_store(target)
    loaded = load_recipe(str(recipe))
    for _ in range(count):
        # Independent jobs in one folder: shared, or workers would run them one at a time.
        create_job(
            store,
            loaded,
            params={},
            workspace=workspace,
            options={},
            queue="default",
            shared_workspace=True,
        )
    store.close()


def drain(target: str, workers: int, env: dict[str, str], cwd: Path) -> float:
    env = {**env, "AGENTCTL_DB": target}
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "agentctl", "worker", "--once"],
            env=env,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    for proc in procs:
        proc.wait()
    return time.perf_counter() - started


def bench_drain(kinds, pg_url, folder: Path, jobs: int, agent_jobs: int) -> list[list]:
    from fakeserver import ScriptedOpenAIServer

    rows = []
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(FAKE_KEY="sk-bench", LITELLM_LOCAL_MODEL_COST_MAP="True", PYTHONPATH=str(ROOT))
    script = [{"tool_calls": [{"name": "read_file", "arguments": {"path": "out.txt"}}]}]
    script.append({"content": "done"})
    with ScriptedOpenAIServer(script, by_turn=True) as server:
        for label, text, count in (
            ("short", SHORT, jobs),
            ("agent", AGENT.format(base=server.base_url), agent_jobs),
        ):
            for kind in kinds:
                for workers in (1, 2, 4):
                    ws = folder / f"ws-{label}-{kind}-{workers}"
                    ws.mkdir()
                    (ws / "out.txt").write_text("hello\n")
                    recipe = folder / f"{label}.yaml"
                    recipe.write_text(text)
                    with database(kind, folder, pg_url) as target:
                        queue(target, recipe, ws, count)
                        wall = drain(target, workers, env, folder)
                        store = open_store(target)
                        done = sum(1 for j in store.list_jobs() if j["state"] == "succeeded")
                        store.close()
                    rows.append(
                        [
                            label,
                            kind,
                            workers,
                            f"{done}/{count}",
                            f"{wall:.1f}",
                            f"{done / wall:.2f}",
                        ]
                    )
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
                    store.append(job, [NewEvent("model_response", "work", data)], now=time.time(),
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("AGENTCTL_BENCH_POSTGRES_URL"))
    parser.add_argument("--jobs", type=int, default=40, help="short jobs per drain")
    parser.add_argument("--agent-jobs", type=int, default=12, help="agent jobs per drain")
    parser.add_argument("--claims", type=int, default=400, help="jobs per claim run")
    parser.add_argument("--steps", type=int, default=200, help="steps per step run")
    parser.add_argument("--only", choices=["drain", "claim", "step"], help="one part only")
    args = parser.parse_args()
    kinds = ["sqlite"] + (["postgres"] if args.postgres else [])
    with tempfile.TemporaryDirectory(
        prefix="agentctl-bench-", dir=os.environ.get("BENCH_DIR")
    ) as tmp:
        folder = Path(tmp)
        print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cpus; backends {kinds}")
        only = args.only
        if only in (None, "drain"):
            print("\n1. draining queued jobs with real `agentctl worker --once` processes")
            print(table(["jobs", "backend", "workers", "succeeded", "wall s", "jobs/s"],
                        bench_drain(kinds, args.postgres, folder, args.jobs, args.agent_jobs)))  # fmt: skip
        if only in (None, "claim"):
            print("\n2. claim latency (claim_job alone; W threads, own connections)")
            print(table(["backend", "workers", "claims", "p50 ms", "p99 ms", "claims/s"],
                        bench_claim(kinds, args.postgres, folder, args.claims)))  # fmt: skip
        if only in (None, "step"):
            print("\n3. per-step cost")
            print(table(["backend", "what", "ms per step"],
                        bench_step(kinds, args.postgres, folder, args.steps)))  # fmt: skip


if __name__ == "__main__":
    main()
