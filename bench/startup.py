"""Start-up time of `agentctl jobs` against importing its CLI libraries alone.

Times the installed console script (.venv/bin/agentctl jobs, AGENTCTL_DB pointing at a
temporary database holding a few jobs) and `python -c "import typer, rich, yaml,
sqlite_utils"`, interleaved, median of `--runs` each, and prints the ratio against the target.

Byte code: this checkout runs with PYTHONDONTWRITEBYTECODE=1 and agentctl is installed
editable, so agentctl's own modules have no .pyc and are compiled at every start. The main
figures use PYTHONPYCACHEPREFIX (a temporary folder; nothing is written next to the sources)
so both commands run from byte code, as an installed agentctl would; the figures without it
are printed too.

Then `python -X importtime -m agentctl jobs`: whether litellm, pydantic and jinja2 are
imported, and by what; and the 10 slowest imports (what to make lazy).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

TARGET_RATIO = 1.5
WATCHED = ("litellm", "pydantic", "jinja2")
BASELINE_IMPORTS = "import typer, rich, yaml, sqlite_utils"


def make_db(path: Path, workspace: Path) -> int:
    """A few jobs in different states, made by the real runner with a scripted model."""
    from _common import BenchModel, agent_recipe, deps, make_job

    from agentctl.engine.run import run_job
    from agentctl.store.sqlite import SQLiteStore

    workspace.mkdir()
    (workspace / "tiny.txt").write_text("hello\n")
    store = SQLiteStore(path)
    done = make_job(store, workspace, agent_recipe(["read_file"], name="done"))
    run_job(done, deps(store, BenchModel(3, ("read_file", {"path": "tiny.txt"}))))
    parked = make_job(
        store,
        workspace,
        agent_recipe(
            ["read_file"], name="parked", extra_steps="  - id: ship\n    approval: Ship it?\n"
        ),
    )
    run_job(parked, deps(store, BenchModel(2, ("read_file", {"path": "tiny.txt"}))))
    stopped = make_job(store, workspace, agent_recipe(["read_file"], name="stopped"))
    run_job(
        stopped,
        deps(store, BenchModel(2, ("read_file", {"path": "tiny.txt"}), interrupt_after=True)),
    )
    make_job(store, workspace, agent_recipe(["read_file"], name="fresh"))
    count = len(store.list_jobs())
    store.close()
    return count


def run_timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, cpu of the child) for one run; exits if the command fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr.decode(errors='replace')}"
        )
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return wall, cpu


def compare(commands: dict[str, list[str]], env: dict[str, str], runs: int) -> dict:
    """Median (wall, cpu) of each command, run interleaved so drifting load hits all alike."""
    for _ in range(2):  # warm-up: page cache, and byte code when a cache prefix is set
        for cmd in commands.values():
            run_timed(cmd, env)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, cmd in commands.items():
            times[name].append(run_timed(cmd, env))
    return {
        name: (
            statistics.median(w for w, _ in t),
            statistics.median(c for _, c in t),
            min(w for w, _ in t),
        )
        for name, t in times.items()
    }


class Import:
    def __init__(self, name: str, self_us: int, cumulative_us: int, depth: int):
        self.name, self.self_us, self.cumulative_us, self.depth = (
            name,
            self_us,
            cumulative_us,
            depth,
        )
        self.parent: Import | None = None


def parse_importtime(text: str) -> list[Import]:
    """`-X importtime` lines; a module's imports are printed before it, one level deeper."""
    out: list[Import] = []
    pending: dict[int, list[Import]] = {}
    for line in text.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        parts = line[len("import time:") :].split("|")
        self_us, cumulative, raw = int(parts[0]), int(parts[1]), parts[2]
        stripped = raw.lstrip(" ")
        depth = (len(raw) - len(stripped) - 1) // 2
        node = Import(stripped.strip(), self_us, cumulative, depth)
        for child in pending.pop(depth + 1, []):
            child.parent = node
        pending.setdefault(depth, []).append(node)
        out.append(node)
    return out


def by_package(imports: list[Import]) -> dict[str, int]:
    """Self time (us) summed by top-level package; the standard library as one."""
    out: dict[str, int] = {}
    stdlib = getattr(sys, "stdlib_module_names", ())
    for node in imports:
        top = node.name.split(".")[0]
        if (
            top in stdlib
            or (top.startswith("_") and top.lstrip("_") in stdlib)
            or top in ("encodings", "site", "_frozen_importlib_external")
        ):
            top = "(standard library)"
        out[top] = out.get(top, 0) + node.self_us
    return out


def chain(node: Import) -> str:
    names = []
    while node is not None:
        names.append(node.name)
        node = node.parent
    return " <- ".join(names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs of each command (10)")
    args = parser.parse_args()
    from _common import table

    venv_bin = Path(sys.executable).parent
    agentctl_script = venv_bin / "agentctl"
    if not agentctl_script.exists():
        raise SystemExit(f"no console script at {agentctl_script}; is agentctl installed?")
    tmp = Path(tempfile.mkdtemp(prefix="agentctl-bench-", dir=os.environ.get("BENCH_DIR")))
    try:
        jobs = make_db(tmp / "agentctl.db", tmp / "ws")
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("PYTHONPYCACHEPREFIX", "PYTHONDONTWRITEBYTECODE")
        }
        env["AGENTCTL_DB"] = str(tmp / "agentctl.db")
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
        agentctl = [str(agentctl_script), "jobs"]
        baseline = [sys.executable, "-c", BASELINE_IMPORTS]
        commands = {"agentctl": agentctl, "baseline": baseline}
        check = subprocess.run(agentctl, env=env, capture_output=True, text=True)
        if check.returncode != 0:
            raise SystemExit(f"agentctl jobs failed:\n{check.stderr}")
        cached = compare(commands, env, args.runs)
        as_is = dict(env)
        del as_is["PYTHONPYCACHEPREFIX"]
        as_is["PYTHONDONTWRITEBYTECODE"] = "1"
        uncached = compare(commands, as_is, args.runs)
        importtime = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "agentctl", "jobs"],
            env=env,
            capture_output=True,
            text=True,
        )
        base_importtime = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", BASELINE_IMPORTS],
            env=env,
            capture_output=True,
            text=True,
        )
        listing = check.stdout
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(
        f"agentctl start-up: `agentctl jobs` on a database of {jobs} jobs vs"
        f' `python -c "{BASELINE_IMPORTS}"`, median of {args.runs} runs each,'
        f" load average {os.getloadavg()[0]:.2f}"
    )
    print()
    rows = []
    for label, result in (
        ("with byte code (PYTHONPYCACHEPREFIX), as installed", cached),
        ("this checkout as is (no agentctl .pyc)", uncached),
    ):
        (aw, ac, amin), (bw, bc, bmin) = result["agentctl"], result["baseline"]
        ratio = aw / bw
        rows.append(
            [
                label,
                f"{aw * 1000:.0f}",
                f"{ac * 1000:.0f}",
                f"{bw * 1000:.0f}",
                f"{bc * 1000:.0f}",
                f"{ratio:.2f}x",
                f"{amin / bmin:.2f}x",
                f"<= {TARGET_RATIO}x",
                "ok" if ratio <= TARGET_RATIO else "OVER",
            ]
        )
    print(
        table(
            [
                "mode",
                "agentctl jobs ms",
                "cpu ms",
                "imports alone ms",
                "cpu ms",
                "ratio (median wall)",
                "ratio (best)",
                "target",
                "verdict",
            ],
            rows,
        )
    )

    imports = parse_importtime(importtime.stderr)
    base = parse_importtime(base_importtime.stderr)
    if imports and base:
        ours, theirs = by_package(imports), by_package(base)
        names = sorted(
            set(ours) | set(theirs), key=lambda n: -max(ours.get(n, 0), theirs.get(n, 0))
        )
        print()
        print(
            "import self-time by top-level package, ms (-X importtime, with byte code; self"
            " times add up to the total)"
        )
        rows = [
            [
                n,
                f"{ours.get(n, 0) / 1000:.1f}",
                f"{theirs.get(n, 0) / 1000:.1f}",
                f"{(ours.get(n, 0) - theirs.get(n, 0)) / 1000:+.1f}",
            ]
            for n in names[:12]
        ]
        rest = names[12:]
        rows.append(
            [
                f"({len(rest)} others)",
                f"{sum(ours.get(n, 0) for n in rest) / 1000:.1f}",
                f"{sum(theirs.get(n, 0) for n in rest) / 1000:.1f}",
                f"{sum(ours.get(n, 0) - theirs.get(n, 0) for n in rest) / 1000:+.1f}",
            ]
        )
        rows.append(
            [
                "total",
                f"{sum(ours.values()) / 1000:.1f}",
                f"{sum(theirs.values()) / 1000:.1f}",
                f"{(sum(ours.values()) - sum(theirs.values())) / 1000:+.1f}",
            ]
        )
        print(table(["package", "agentctl jobs", "imports alone", "difference"], rows))

    if not imports:
        print("\n-X importtime gave no output:\n" + importtime.stderr[-2000:])
        return
    print()
    print("`python -X importtime -m agentctl jobs` (with byte code):")
    by_name = {i.name: i for i in imports}
    rows = []
    for name in WATCHED:
        node = by_name.get(name)
        if node is None:
            rows.append([name, "no", "", ""])
        else:
            rows.append([name, "YES", f"{node.cumulative_us / 1000:.1f}", chain(node)])
    print(table(["module", "imported", "cumulative ms", "imported by (innermost first)"], rows))
    total = sum(i.cumulative_us for i in imports if i.depth == 0)
    print(f"\nall imports: {total / 1000:.0f} ms cumulative over {len(imports)} modules")
    print()
    print("10 slowest imports by cumulative time, outermost (depth 0) only:")
    top = sorted((i for i in imports if i.depth == 0), key=lambda i: -i.cumulative_us)[:10]
    print(
        table(
            ["module", "cumulative ms", "self ms"],
            [[i.name, f"{i.cumulative_us / 1000:.1f}", f"{i.self_us / 1000:.1f}"] for i in top],
        )
    )
    print()
    print("10 slowest imports by self time (any depth), with what pulled them in:")
    top = sorted(imports, key=lambda i: -i.self_us)[:10]
    print(
        table(
            ["module", "self ms", "cumulative ms", "chain (innermost first)"],
            [
                [i.name, f"{i.self_us / 1000:.1f}", f"{i.cumulative_us / 1000:.1f}", chain(i)]
                for i in top
            ],
        )
    )
    if "no jobs" in listing:
        print("\nwarning: `agentctl jobs` listed no jobs")


if __name__ == "__main__":
    main()
