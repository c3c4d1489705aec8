"""Per-step cost of the agentctl runner against a raw durable SQLite loop.

Variants, each in a fresh interpreter (`--variant` selects one; the parent runs them all):

  raw         WAL, synchronous=FULL, one INSERT of a ~150-byte row + COMMIT per step.
  read_file   run_job with an in-process scripted model asking N times for read_file
              of a tiny file (a read-only tool: no durable commit expected), then a text.
  write_file  the same with write_file of a tiny file (NOT read-only: the action's start
              is committed durably, one fsync, before the tool runs).
  tool:X      X's run() alone, N times (what the tool itself costs).
  model       the scripted model's complete() alone, N times.

A step is timed from the first model call to the final one (so job start-up and the end of
the job are excluded and reported apart). fsyncs are counted by re-running each variant under
`strace -f -y -e trace=fsync,fdatasync`; the child brackets the measured steps with a marker
syscall (fsync on a closed fd: EBADF), so only the steps' fsyncs are counted, split by file.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

MARKER_FD = 987654  # never open: fsync() on it fails with EBADF and marks the trace
RUNNER_VARIANTS = {
    "read_file": ("read_file", {"path": "tiny.txt"}),
    "write_file": ("write_file", {"path": "out.txt", "content": "x"}),
}
TARGET_FSYNC = 1.0
TARGET_CPU_MS = 0.1


def _marker() -> None:
    try:
        os.fsync(MARKER_FD)
    except OSError:
        pass


class Clock:
    """Wall, process CPU (all threads) and children's CPU, read together."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.child = ru.ru_utime + ru.ru_stime

    def since(self, start: Clock) -> dict[str, float]:
        return {
            "wall": self.wall - start.wall,
            "cpu": self.cpu - start.cpu,
            "child_cpu": self.child - start.child,
        }


# -- the variants, run in a child ------------------------------------------------------------


def run_raw(steps: int, folder: Path) -> dict:
    conn = sqlite3.connect(str(folder / "raw.db"), isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, ts REAL, data TEXT)")
    row = json.dumps(
        {"key": "work/t0/c0", "tool": "read_file", "ok": True, "output": "x" * 60, "error": None}
    )[:150].ljust(150)
    _marker()
    start = Clock()
    for _ in range(steps):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t (ts, data) VALUES (?, ?)", (time.time(), row))
        conn.execute("COMMIT")
    result = Clock().since(start)
    _marker()
    conn.close()
    return {"loop": result}


class TimedModel:
    """Wraps BenchModel: takes a Clock (and a trace marker) at the first and last call."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.first: Clock | None = None
        self.last: Clock | None = None
        self.mask = None  # set by the runner
        self.spent: dict[str, float] = {}

    def close(self) -> None:
        pass

    def complete(self, role, messages, tools, *, call_index, on_text=None, bounds=None):
        if self.first is None:
            _marker()
            self.first = Clock()
        if self.inner.calls == self.inner.turns:  # the final (text) answer
            self.last = Clock()
            _marker()
        return self.inner.complete(role, messages, tools, call_index=call_index, on_text=on_text)

    def estimate_call_cost(self, role, messages) -> float:
        return 0.0


def run_runner(variant: str, steps: int, folder: Path) -> dict:
    from _common import BenchModel, agent_recipe, deps, make_job

    from agentctl.engine.run import run_job
    from agentctl.store.sqlite import SQLiteStore

    workspace = folder / "ws"
    workspace.mkdir()
    (workspace / "tiny.txt").write_text("hello\n")
    name, args = RUNNER_VARIANTS[variant]
    store = SQLiteStore(folder / "agentctl.db")
    job = make_job(store, workspace, agent_recipe([name]))
    model = TimedModel(BenchModel(steps, (name, args)))
    begin = Clock()
    outcome = run_job(job, deps(store, model))
    end = Clock()
    assert outcome.state == "succeeded", outcome
    assert model.first and model.last
    commits = store.conn.execute("SELECT COUNT(*) FROM events WHERE job_id = ?", (job,)).fetchone()[
        0
    ]
    store.close()
    return {
        "loop": model.last.since(model.first),
        "startup": model.first.since(begin),
        "finish": end.since(model.last),
        "events": commits,
    }


def run_tool(name: str, steps: int, folder: Path) -> dict:
    import threading

    from agentctl.tools.base import ToolContext
    from agentctl.tools.registry import build_toolbox

    workspace = folder / "ws"
    workspace.mkdir()
    (workspace / "tiny.txt").write_text("hello\n")
    tool = build_toolbox({}, [name])[name]
    args = RUNNER_VARIANTS[name][1]
    ctx = ToolContext(workspace=workspace, env={"PATH": "/usr/bin:/bin"}, cancel=threading.Event())
    start = Clock()
    for _ in range(steps):
        result = tool.run(dict(args), ctx)
    loop = Clock().since(start)
    assert result.ok, result
    return {"loop": loop}


def run_model(steps: int, folder: Path) -> dict:
    from _common import BenchModel

    model = BenchModel(steps, RUNNER_VARIANTS["read_file"])
    messages = [{"role": "user", "content": "Begin."}]
    start = Clock()
    for n in range(steps):
        model.complete("default", messages, [], call_index=n)
    return {"loop": Clock().since(start)}


def run_append(steps: int, folder: Path) -> dict:
    """Store.append of one model_response-sized event (+ job row update), not durable."""
    from _common import BenchModel, agent_recipe, make_job

    from agentctl.store import JobUpdate, NewEvent
    from agentctl.store.sqlite import SQLiteStore

    workspace = folder / "ws"
    workspace.mkdir()
    store = SQLiteStore(folder / "agentctl.db")
    job = make_job(store, workspace, agent_recipe(["read_file"]))
    token = store.acquire_lease(
        job, host="h", pid=1, start="", now=time.time(), ttl=60, is_alive=lambda pid, start: False
    )
    reply = (
        BenchModel(1, RUNNER_VARIANTS["read_file"])
        .complete("default", [], [], call_index=0)
        .to_dict()
    )
    data = {"key": "work/t0", "reply": reply, "wall_ms": 0}
    start = Clock()
    for _ in range(steps):
        store.append_events(
            job,
            [NewEvent("model_response", "work", data)],
            now=time.time(),
            token=token,
            update=JobUpdate(add={"model_calls": 1}),
        )
    loop = Clock().since(start)
    store.close()
    return {"loop": loop}


def run_to_dict(steps: int, folder: Path) -> dict:
    """ModelReply.to_dict() (dataclasses.asdict), which the agent loop calls per model call."""
    from _common import BenchModel

    reply = BenchModel(1, RUNNER_VARIANTS["read_file"]).complete("default", [], [], call_index=0)
    start = Clock()
    for _ in range(steps):
        reply.to_dict()
    return {"loop": Clock().since(start)}


def child(variant: str, steps: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="agentctl-bench-", dir=os.environ.get("BENCH_DIR")))
    try:
        if variant == "raw":
            out = run_raw(steps, folder)
        elif variant in RUNNER_VARIANTS:
            out = run_runner(variant, steps, folder)
        elif variant.startswith("tool:"):
            out = run_tool(variant[5:], steps, folder)
        elif variant == "model":
            out = run_model(steps, folder)
        elif variant == "append":
            out = run_append(steps, folder)
        elif variant == "to_dict":
            out = run_to_dict(steps, folder)
        else:
            raise SystemExit(f"unknown variant {variant}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(out))


# -- the parent: run, trace, report ------------------------------------------------------------


def spawn(variant: str, steps: int, strace_out: Path | None = None) -> dict:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--variant",
        variant,
        "--steps",
        str(steps),
    ]
    if strace_out is not None:
        cmd = [
            "strace",
            "-f",
            "-y",
            "-qq",
            "-e",
            "signal=none",
            "-e",
            "trace=fsync,fdatasync",
            "-o",
            str(strace_out),
        ] + cmd
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"variant {variant} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


_CALL = re.compile(r"^\d+\s+(fsync|fdatasync)\((\d+)(?:<([^>]*)>)?")


def count_fsyncs(trace: Path) -> dict[str, int]:
    """fsync/fdatasync calls between the two markers: `commit` (a durable commit's WAL sync),
    `checkpoint` (the database file's sync, and the WAL syncs right before it and right after
    it: before the backfill, and the WAL header at the restart that follows) and `other`."""
    files: list[str] = []
    inside = False
    for line in trace.read_text().splitlines():
        match = _CALL.match(line)
        if not match:
            continue  # "<... resumed>" halves, exits
        if int(match.group(2)) == MARKER_FD:
            if inside:
                break
            inside = True
            continue
        if inside:
            path = match.group(3) or "?"
            files.append(
                "wal" if path.endswith("-wal") else "db" if path.endswith(".db") else "other"
            )
    counts = {"commit": 0, "checkpoint": 0, "other": 0}
    for n, kind in enumerate(files):
        if kind == "wal":
            near_db = (n + 1 < len(files) and files[n + 1] == "db") or (
                n > 0 and files[n - 1] == "db"
            )
            counts["checkpoint" if near_db else "commit"] += 1
        elif kind == "db":
            counts["checkpoint"] += 1
        else:
            counts["other"] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=500, help="steps per variant (500)")
    parser.add_argument(
        "--repeat", type=int, default=5, help="timed runs per variant; the best is shown (5)"
    )
    parser.add_argument("--no-strace", action="store_true", help="skip fsync counting")
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        child(args.variant, args.steps)
        return

    from _common import fs_type, table

    steps = args.steps
    tmp = Path(os.environ.get("BENCH_DIR") or tempfile.gettempdir())
    print(
        f"agentctl step overhead: {steps} steps per variant, best of {args.repeat} runs,"
        f" database on {tmp} ({fs_type(tmp)}), python {sys.version.split()[0]},"
        f" sqlite {sqlite3.sqlite_version}, {os.cpu_count()} cpus,"
        f" load average {os.getloadavg()[0]:.2f}"
    )

    def timed(variant: str) -> dict:
        # Best of `repeat`: the machine may be shared, and interference only ever adds time.
        runs = [spawn(variant, steps) for _ in range(args.repeat)]
        out = {
            k: min(r["loop"][k] for r in runs) * 1000 / steps for k in ("wall", "cpu", "child_cpu")
        }
        if "startup" in runs[0]:
            out["startup"] = min(r["startup"]["wall"] for r in runs) * 1000
            out["finish"] = min(r["finish"]["wall"] for r in runs) * 1000
            out["events"] = runs[0]["events"]
        return out

    variants = ["raw", "read_file", "write_file"]
    results = {v: timed(v) for v in variants}
    tools = {name: timed(f"tool:{name}") for name in ("read_file", "write_file")}
    model = timed("model")
    append = timed("append")
    to_dict = timed("to_dict")

    strace = shutil.which("strace") if not args.no_strace else None
    fsyncs: dict[str, dict[str, int] | None] = dict.fromkeys(variants)
    strace_note = ""
    if args.no_strace:
        strace_note = "fsync counting skipped (--no-strace)"
    elif strace is None:
        strace_note = (
            "strace is not installed: fsyncs not counted"
            " (apt-get install -y strace, then run again)"
        )
    else:
        with tempfile.TemporaryDirectory() as folder:
            for v in variants:
                trace = Path(folder) / f"{v}.trace"
                try:
                    spawn(v, steps, strace_out=trace)
                    fsyncs[v] = count_fsyncs(trace)
                except SystemExit as exc:
                    strace_note = f"strace failed ({str(exc).splitlines()[0]}); fsyncs not counted"
                    fsyncs = dict.fromkeys(variants)
                    break

    raw = results["raw"]

    def per_step(v: str) -> str:
        c = fsyncs[v]
        if c is None:
            return "n/a"
        total = sum(c.values()) / steps
        parts = ", ".join(f"{k} {n}" for k, n in c.items() if n)
        return f"{total:.3f} ({parts or 'none'})"

    rows = []
    for v in variants:
        r = results[v]
        label = "raw sqlite FULL" if v == "raw" else f"runner {v}"
        rows.append(
            [
                label,
                f"{r['wall']:.3f}",
                f"{r['cpu']:.3f}",
                f"{r['child_cpu']:.3f}",
                "-" if v == "raw" else f"{r['wall'] - raw['wall']:+.3f}",
                "-" if v == "raw" else f"{r['cpu'] - raw['cpu']:+.3f}",
                per_step(v),
            ]
        )
    print()
    print(
        "per step, ms (CPU = time.process_time of the whole process, all threads;"
        " child = RUSAGE_CHILDREN)"
    )
    print(
        table(
            [
                "variant",
                "wall",
                "cpu",
                "child cpu",
                "wall-raw",
                "cpu-raw",
                "fsyncs/step (in total: commit, checkpoint)",
            ],
            rows,
        )
    )
    if strace_note:
        print(f"note: {strace_note}")

    print()
    print("what is not the engine, per call, ms:")
    print(
        table(
            ["piece", "wall", "cpu"],
            [
                [
                    "read_file tool run() alone",
                    f"{tools['read_file']['wall']:.3f}",
                    f"{tools['read_file']['cpu']:.3f}",
                ],
                [
                    "write_file tool run() alone",
                    f"{tools['write_file']['wall']:.3f}",
                    f"{tools['write_file']['cpu']:.3f}",
                ],
                ["scripted model complete() alone", f"{model['wall']:.3f}", f"{model['cpu']:.3f}"],
            ],
        )
    )
    print()
    print("engine pieces, per call, ms (for reading the overhead; a step makes 2 appends):")
    print(
        table(
            ["piece", "wall", "cpu"],
            [
                [
                    "Store.append, 1 small event, NORMAL",
                    f"{append['wall']:.3f}",
                    f"{append['cpu']:.3f}",
                ],
                [
                    "ModelReply.to_dict() (asdict)",
                    f"{to_dict['wall']:.3f}",
                    f"{to_dict['cpu']:.3f}",
                ],
            ],
        )
    )

    print()
    print(
        "engine overhead per step = runner - raw loop - tool alone - model alone (ms),"
        " against the targets"
    )
    print(
        "(the raw loop already pays one durable commit per step, so this is CPU beyond it;"
        " fsyncs: durable commits' WAL syncs per step, and all fsyncs including"
        " checkpoints' minus the raw loop's)"
    )
    rows = []
    for v in ("read_file", "write_file"):
        r, t = results[v], tools[v]
        engine_cpu = r["cpu"] - raw["cpu"] - t["cpu"] - model["cpu"]
        engine_wall = r["wall"] - raw["wall"] - t["wall"] - model["wall"]
        c = fsyncs[v]
        if c is None:
            wal_fsync, extra_fsync, fs_verdict = "n/a", "n/a", "n/a"
        else:
            raw_total = sum((fsyncs["raw"] or {}).values()) / steps
            total = sum(c.values()) / steps
            wal = c["commit"] / steps
            wal_fsync = f"{wal:.3f}"
            extra_fsync = f"{total - raw_total:+.3f}"
            fs_verdict = (
                "ok" if wal <= TARGET_FSYNC and total - raw_total <= TARGET_FSYNC else "OVER"
            )
        rows.append(
            [
                f"runner {v}",
                f"{engine_wall:+.3f}",
                f"{engine_cpu:+.3f}",
                f"<= {TARGET_CPU_MS}",
                "ok" if engine_cpu <= TARGET_CPU_MS else "OVER",
                wal_fsync,
                extra_fsync,
                f"<= {TARGET_FSYNC:g}",
                fs_verdict,
            ]
        )
    print(
        table(
            [
                "variant",
                "wall",
                "cpu",
                "cpu target",
                "cpu ok?",
                "commit fsyncs/step",
                "all fsyncs - raw",
                "fsync target",
                "fsync ok?",
            ],
            rows,
        )
    )

    print()
    print("once per run (not in the per-step figures), ms wall:")
    print(
        table(
            [
                "variant",
                "run_job start -> 1st model call",
                "last call -> run_job returns",
                "events",
            ],
            [
                [
                    f"runner {v}",
                    f"{results[v]['startup']:.1f}",
                    f"{results[v]['finish']:.1f}",
                    results[v]["events"],
                ]
                for v in ("read_file", "write_file")
            ],
        )
    )


if __name__ == "__main__":
    main()
