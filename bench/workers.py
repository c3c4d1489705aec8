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
3. enqueue: CPU of `agentctl run R --queue` as a command (its cache of checked recipes hit and
   missed, and the full typer command), of Python's bare start, and of `Client.enqueue` in
   process; `python -X importtime` of the command (a hit), the costliest imports.
4. first: agent jobs in a row in one warm worker: `runner_started` -> the first request at the
   scripted server (its arrival time), and enqueue -> that request.
5. claim: W threads, each with its own store, claim N queued jobs as fast as they can:
   claim latency p50/p99 (this is the queue's own cost, without running anything).
6. step: `Store.append` of one model_response-sized event (the per-step write), ordinary and
   durable, and a whole scripted agent job of S steps through `run_job`, per step.
With --phases W, after the goals: a wake-up run of W workers traced by bench/_phases.py
(timestamps per phase: look, claim, fork, child, lease, runner_started), p50/p90/max each.
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
import subprocess
import sys
import tempfile
from itertools import product
from pathlib import Path

from _common import ROOT, table
from _fleet import AGENT, SHORT, bench_env, database, drain, queue, succeeded, warm_up
from _fleet_parts import (
    bench_claim,
    bench_enqueue,
    bench_first,
    bench_step,
    bench_wake,
    import_profile,
    wake_run,
)
from _goals import goal_rows
from _phases import phase_rows
from _profile import parent_rows, profile_rows, step_processes_ms

sys.path.insert(0, str(ROOT / "tests"))


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
            print(f"\n   {label} jobs: the processes each job started (reaper, bubblewrap, shell):"
                  f" {step_processes_ms(out):.0f} ms CPU per job (getrusage, not profiled)")  # fmt: skip
            parent_total, rows = parent_rows(out, count, top=12)
            print(f"\n   {label} jobs: the worker's loop (Worker.run), {parent_total:.0f} ms CPU per"
                  " job under cProfile (claims, forks, reaping; litellm's import at its first agent job)")  # fmt: skip
            print(table(["function", "calls/job", "own ms/job", "cumulative ms/job"], rows))


def run_dbos(python: str, pg_url: str, args: argparse.Namespace) -> None:
    """bench/workers_dbos.py under DBOS's own Python; it prints its own tables."""
    argv = [python, str(ROOT / "bench" / "workers_dbos.py"), "--postgres", pg_url]
    argv += ["--jobs", str(args.jobs), "--workers", ",".join(map(str, args.workers))]
    argv += ["--wake-jobs", str(args.wake_jobs), "--spacing", str(args.spacing)]
    subprocess.run(argv, check=False)


def bench_phases(kinds: list[str], args: argparse.Namespace, folder: Path) -> None:
    """A wake-up run (part 2's load) with `args.phases` traced workers per backend: where the
    time from enqueue to runner_started goes (bench/_phases.py)."""
    for kind in kinds:
        trace = folder / f"phases-{kind}"
        runs = wake_run(kind, args.phases, args.postgres, folder, args, trace=trace)
        print(f"\nPhases of a wake-up, {kind}, {args.phases} traced workers, {len(runs)} jobs")
        queued = {job: (at, started) for job, at, started in runs}
        print(table(["phase", "p50 ms", "p90 ms", "max ms", "what"], phase_rows(trace, queued)))


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
    parser.add_argument("--phases", type=int, default=0, metavar="W",
                        help="then a wake-up run of W traced workers: time per phase")  # fmt: skip
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
        if args.phases:
            bench_phases(kinds, args, folder)
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
