"""Per-step and per-job cost on the real model path: agentctl against a bare litellm loop and
LangGraph + SqliteSaver, all talking to the same scripted OpenAI-compatible server.

The server (tests/fakeserver.py) runs in this process on 127.0.0.1 and answers N `read_file`
tool calls (file K on turn K), then "done". Each variant runs in a fresh interpreter:

  import      `import litellm` alone (the floor for time to the first request)
  bare        a bare litellm loop: completion() -> read the file -> append -> repeat
  tuned       the same loop with the collector settings agentctl starts with (a higher
              first threshold while litellm loads, then gc.freeze()): agentctl's cost over
              a loop that is as well tuned, beside the goals' plain bare loop
  langgraph   LangGraph StateGraph (model node, tools node) compiled with SqliteSaver
              (a checkpoint per node); needs its own venv, see bench/README.md
  agentctl    `agentctl run RECIPE` with plain output (stdout/stderr are pipes)
  live        the same under a pseudo-terminal: the live view (AGENTCTL_STREAM unset: a model
              that answers within 1 s is not asked to stream, so here only the first call is)
  stream      the live view with AGENTCTL_STREAM=always: every call streams, which shows what
              litellm's streaming costs (not a goal: a real model's reply takes far longer)

Sizes (default 40 and 240 turns) and variants are interleaved, `--repeat` times (median shown).
From the wall time W(N) of whole runs: per-step cost = (W(240) - W(40)) / 200, per-job cost =
W(40) - 40 * per-step; both are shown over the bare loop. Time to first request is taken by the
server (arrival of the first POST) from the moment the process was started. Database bytes per
step are (B(240) - B(40)) / 200 after a WAL checkpoint.
"""

from __future__ import annotations

import argparse
import json
import operator
import os
import pty
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Annotated, Any, TypedDict

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

DEFAULT_BENCH_VENV = Path(os.environ.get("BENCH_VENV", "/work/benchvenv"))
MODEL = "openai/fake-model"
KEY = "sk-bench-0000"
READ_FILE_TOOL = {
    "type": "function",
    "function": {
        "name": "read_file",
        "description": "Read a text file in the workspace.",
        "parameters": {
            "type": "object",
            "properties": {"path": {"type": "string"}},
            "required": ["path"],
        },
    },
}
SYSTEM = "Do the benchmark."
TARGETS = {"step_ms": 1.0, "job_s": 0.3, "live_ms": 1.0, "bytes": 2048, "first_s": 0.2}


# -- the children --------------------------------------------------------------------------


class State(TypedDict):
    """LangGraph's state: the conversation, appended to by each node."""

    messages: Annotated[list, operator.add]


def _reply_message(resp: Any) -> dict:
    msg = resp.choices[0].message
    out: dict[str, Any] = {"role": "assistant", "content": msg.content}
    if msg.tool_calls:
        out["tool_calls"] = [
            {
                "id": tc.id,
                "type": "function",
                "function": {"name": tc.function.name, "arguments": tc.function.arguments},
            }
            for tc in msg.tool_calls
        ]
    return out


def _read_file(workspace: Path, call: dict) -> dict:
    args = json.loads(call["function"]["arguments"])
    text = (workspace / args["path"]).read_text()
    return {"role": "tool", "tool_call_id": call["id"], "content": text}


def child_bare(base: str, workspace: Path, tuned: bool = False) -> None:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    if tuned:  # the collector settings agentctl starts with (agentctl/gc_tuning.py)
        import gc

        saved = gc.get_threshold()
        gc.set_threshold(20_000, *saved[1:])
    import litellm

    if tuned:
        gc.freeze()
        gc.set_threshold(*saved)

    messages: list[dict] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "Begin."},
    ]
    while True:
        resp = litellm.completion(
            model=MODEL, api_base=base, api_key=KEY, messages=messages, tools=[READ_FILE_TOOL]
        )
        message = _reply_message(resp)
        messages.append(message)
        if not message.get("tool_calls"):
            break
        for call in message["tool_calls"]:
            messages.append(_read_file(workspace, call))


def child_langgraph(base: str, workspace: Path, db: Path) -> None:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm
    from langgraph.checkpoint.sqlite import SqliteSaver
    from langgraph.graph import END, START, StateGraph

    def model(state: State) -> dict:
        resp = litellm.completion(
            model=MODEL,
            api_base=base,
            api_key=KEY,
            messages=state["messages"],
            tools=[READ_FILE_TOOL],
        )
        return {"messages": [_reply_message(resp)]}

    def tools(state: State) -> dict:
        calls = state["messages"][-1].get("tool_calls") or []
        return {"messages": [_read_file(workspace, call) for call in calls]}

    def route(state: State) -> str:
        return "tools" if state["messages"][-1].get("tool_calls") else END

    graph = StateGraph(State)
    graph.add_node("model", model)
    graph.add_node("tools", tools)
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", route, ["tools", END])
    graph.add_edge("tools", "model")
    conn = sqlite3.connect(str(db), check_same_thread=False)
    app = graph.compile(checkpointer=SqliteSaver(conn))
    app.invoke(
        {
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": "Begin."},
            ]
        },
        {"configurable": {"thread_id": "bench"}, "recursion_limit": 100_000},
    )
    conn.close()


# -- the parent ----------------------------------------------------------------------------


class Server:
    """The scripted server, noting when each chat request arrives (perf_counter)."""

    def __init__(self, turns: int):
        from tests.fakeserver import ScriptedOpenAIServer

        self.arrivals: list[float] = []
        self.impl = ScriptedOpenAIServer(
            [
                {"tool_calls": [{"name": "read_file", "arguments": {"path": f"f{n}.txt"}}]}
                for n in range(turns)
            ],
            by_turn=True,  # item K answers the request holding K assistant messages
        )
        arrivals = self.arrivals

        class Noting(list):
            def append(self, item: Any) -> None:
                if item.get("method") == "POST":
                    arrivals.append(time.perf_counter())
                # The bodies grow with the history; keeping them would cost the server memory.

        self.impl.requests = Noting()
        self.impl.start()

    @property
    def base_url(self) -> str:
        return self.impl.base_url

    def stop(self) -> None:
        self.impl.stop()


def _db_bytes(path: Path) -> int:
    if not path.exists():
        return 0
    conn = sqlite3.connect(str(path))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    conn.close()
    return path.stat().st_size


def _recipe(base: str) -> str:
    return (
        "version: 1\n"
        "name: bench\n"
        "models:\n"
        f'  default: {{model: {MODEL}, api_base: "{base}", api_key_env: BENCH_KEY}}\n'
        "steps:\n"
        "  - id: work\n"
        "    agent:\n"
        f"      instructions: {SYSTEM}\n"
        "      tools: [read_file]\n"
    )


def _run_on_pty(cmd: list[str], env: dict, cwd: Path) -> int:
    """Run `cmd` with a pseudo-terminal as stdin/stdout/stderr, draining what it shows."""
    master, slave = pty.openpty()
    import fcntl
    import struct
    import termios

    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(
        cmd, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd, close_fds=True
    )
    os.close(slave)

    def drain() -> None:
        while True:
            try:
                if not os.read(master, 65536):
                    return
            except OSError:
                return

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    code = proc.wait()
    reader.join(timeout=5)
    os.close(master)
    return code


def run_variant(variant: str, turns: int, work: Path, env_base: dict, bench_python: str) -> dict:
    """One run: wall seconds, seconds to the first request, database bytes."""
    folder = Path(tempfile.mkdtemp(prefix=f"{variant}-{turns}-", dir=work))
    workspace = folder / "ws"
    workspace.mkdir()
    for n in range(turns):  # a different file each turn: repeating one action is a limit
        (workspace / f"f{n}.txt").write_text(f"hello {n}\n")
    server = Server(turns)
    env = dict(env_base, BENCH_KEY=KEY)
    db = folder / "db.sqlite"
    me = str(Path(__file__).resolve())
    try:
        if variant == "import":
            cmd = [sys.executable, "-c", "import litellm"]
        elif variant in ("bare", "tuned"):
            cmd = [sys.executable, me, "--child", variant, "--base", server.base_url]
            cmd += ["--workspace", str(workspace)]
        elif variant == "langgraph":
            cmd = [bench_python, me, "--child", "langgraph", "--base", server.base_url]
            cmd += ["--workspace", str(workspace), "--db", str(db)]
        else:
            recipe = folder / "bench.yaml"
            recipe.write_text(_recipe(server.base_url))
            env["AGENTCTL_DB"] = str(db)
            cmd = [sys.executable, "-m", "agentctl", "run", str(recipe)]
            cmd += ["--workspace", str(workspace)]
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu0 = ru.ru_utime + ru.ru_stime
        started = time.perf_counter()
        if variant == "stream":
            env["AGENTCTL_STREAM"] = "always"
        if variant in ("live", "stream"):
            code = _run_on_pty(cmd, env, folder)
        else:
            proc = subprocess.run(
                cmd, env=env, cwd=folder, capture_output=True, stdin=subprocess.DEVNULL
            )
            code = proc.returncode
            if code != 0:
                sys.stderr.write(proc.stderr.decode(errors="replace")[-2000:])
        wall = time.perf_counter() - started
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = ru.ru_utime + ru.ru_stime - cpu0
        if code != 0:
            raise SystemExit(f"{variant} ({turns} turns) exited {code}")
        expected = 0 if variant == "import" else turns + 1
        if len(server.arrivals) != expected:
            raise SystemExit(
                f"{variant}: {len(server.arrivals)} model requests, expected {expected}"
            )
        first = server.arrivals[0] - started if server.arrivals else wall
        span = server.arrivals[-1] - server.arrivals[0] if server.arrivals else 0.0
        return {"wall": wall, "cpu": cpu, "span": span, "first": first, "bytes": _db_bytes(db)}
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _fmt(value: float | None, unit: str, digits: int = 2, sign: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.{digits}f}{unit}" if sign else f"{value:.{digits}f}{unit}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="40,240")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--variants", default="import,bare,tuned,langgraph,agentctl,live,stream")
    ap.add_argument(
        "--bench-python",
        default=str(DEFAULT_BENCH_VENV / "bin" / "python"),
        help="a Python with langgraph + langgraph-checkpoint-sqlite and litellm",
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--base", help=argparse.SUPPRESS)
    ap.add_argument("--workspace", help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child in ("bare", "tuned"):
        child_bare(args.base, Path(args.workspace), tuned=args.child == "tuned")
        return 0
    if args.child == "langgraph":
        child_langgraph(args.base, Path(args.workspace), Path(args.db))
        return 0

    small, large = (int(s) for s in args.sizes.split(","))
    variants = [v for v in args.variants.split(",") if v]
    if "langgraph" in variants:
        probe = subprocess.run(
            [args.bench_python, "-c", "import langgraph.checkpoint.sqlite, litellm"],
            capture_output=True,
            env=dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True"),
        )
        if probe.returncode != 0:
            print(
                f"langgraph: not measured ({args.bench_python} cannot import langgraph; "
                "see bench/README.md to make its venv)",
                file=sys.stderr,
            )
            variants.remove("langgraph")
    work = Path(tempfile.mkdtemp(prefix="agentctl-realpath-", dir=os.environ.get("BENCH_DIR")))
    env_base = dict(os.environ)
    env_base.pop("PYTHONDONTWRITEBYTECODE", None)
    # Byte code for everything (as an installed agentctl has), kept out of the source tree.
    env_base["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    env_base["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    env_base["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    for key in ("CI", "GITHUB_ACTIONS"):
        env_base.pop(key, None)
    try:
        for variant in variants:  # warm-up: byte code written, caches filled
            run_variant(variant, 2, work, env_base, args.bench_python)
        results: dict[tuple[str, int], list[dict]] = {}
        for _ in range(args.repeat):
            for size in (small, large):
                for variant in variants:
                    out = run_variant(variant, size, work, env_base, args.bench_python)
                    results.setdefault((variant, size), []).append(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(results, variants, small, large)
    return 0


def report(results: dict, variants: list[str], small: int, large: int) -> None:
    def med(variant: str, size: int, key: str) -> float:
        return statistics.median(r[key] for r in results[(variant, size)])

    load = os.getloadavg()
    runs = len(results[(variants[0], small)])
    print(
        f"real model path: {small} and {large} read_file turns, medians of {runs}, interleaved;"
        f" load average {load[0]:.1f} on {os.cpu_count()} cores"
    )
    n = large - small
    per: dict[str, dict[str, float]] = {}
    for variant in variants:
        if variant == "import":
            continue
        step = (med(variant, large, "span") - med(variant, small, "span")) / n
        cpu_step = (med(variant, large, "cpu") - med(variant, small, "cpu")) / n
        per[variant] = {
            "step": step,
            "cpu_step": cpu_step,
            "job": med(variant, small, "wall") - small * step,
            "cpu_job": med(variant, small, "cpu") - small * cpu_step,
            "bytes": (med(variant, large, "bytes") - med(variant, small, "bytes")) / n,
            "first": med(variant, small, "first"),
        }
    imp = statistics.median(
        [r["wall"] for s in (small, large) for r in results.get(("import", s), [])] or [0.0]
    )
    bare = per.get("bare")

    def over(p: dict, key: str, scale: float, unit: str) -> str:
        return _fmt((p[key] - bare[key]) * scale, unit, sign=True) if bare else "-"

    headers = [
        "",
        "ms/step",
        "over bare",
        "cpu ms/step",
        "over bare",
        "s/job",
        "over bare",
        "cpu s/job",
        "KiB db/step",
        "first request",
    ]
    rows = [
        [
            variant,
            _fmt(p["step"] * 1000, ""),
            over(p, "step", 1000, " ms"),
            _fmt(p["cpu_step"] * 1000, ""),
            over(p, "cpu_step", 1000, " ms"),
            _fmt(p["job"], ""),
            over(p, "job", 1, " s"),
            _fmt(p["cpu_job"], ""),
            _fmt(p["bytes"] / 1024, "", 1) if p["bytes"] else "-",
            _fmt(p["first"], " s"),
        ]
        for variant, p in per.items()
    ]
    from _common import table

    print(table(headers, rows))
    if "import" in variants:
        print(f"import litellm alone: {imp:.2f} s (wall, median)")
    if not bare:
        return
    print("goals (wall per step from the server's request arrivals; per job from whole runs):")

    def goal(text: str, ok: bool) -> None:
        print(f"  [{'met' if ok else 'MISSED'}] {text}")

    a, lg, live, streamed = (per.get(v) for v in ("agentctl", "langgraph", "live", "stream"))
    if a:
        extra = (a["step"] - bare["step"]) * 1000
        goal(
            f"per step over bare litellm {extra:+.2f} ms (<= {TARGETS['step_ms']} ms)",
            extra <= TARGETS["step_ms"],
        )
        if lg:
            lg_extra = (lg["step"] - bare["step"]) * 1000
            goal(
                f"per step at or below LangGraph: {extra:+.2f} vs {lg_extra:+.2f} ms over bare",
                extra <= lg_extra,
            )
            ratio = f"{a['bytes'] / lg['bytes']:.3f}" if lg["bytes"] else "-"
            print(
                f"  ratio agentctl / LangGraph: per step {a['step'] / lg['step']:.2f}"
                f" (cpu {a['cpu_step'] / lg['cpu_step']:.2f}), per job"
                f" {a['job'] / lg['job']:.2f}, database per step {ratio}"
            )
        job = a["job"] - bare["job"]
        goal(f"per job over bare {job:+.2f} s (<= {TARGETS['job_s']} s)", job <= TARGETS["job_s"])
        goal(
            f"database {a['bytes']:.0f} bytes per step (<= {TARGETS['bytes']})",
            a["bytes"] <= TARGETS["bytes"],
        )
        if "import" in variants:
            first = a["first"] - imp
            goal(
                f"first request after {a['first']:.2f} s = import litellm {imp:.2f} s"
                f" {first:+.2f} s (<= +{TARGETS['first_s']} s)",
                first <= TARGETS["first_s"],
            )
    tuned = per.get("tuned")
    if a and tuned:
        print(
            f"  over the tuned bare loop: per step {(a['step'] - tuned['step']) * 1000:+.2f} ms"
            f" (cpu {(a['cpu_step'] - tuned['cpu_step']) * 1000:+.2f} ms), per job"
            f" {a['job'] - tuned['job']:+.2f} s, first request {a['first'] - tuned['first']:+.2f} s"
        )
    if a and live:
        extra = (live["step"] - a["step"]) * 1000
        goal(
            f"live view {extra:+.2f} ms per step over plain (<= {TARGETS['live_ms']} ms)",
            extra <= TARGETS["live_ms"],
        )
    if a and streamed:
        extra = (streamed["step"] - a["step"]) * 1000
        cpu = (streamed["cpu_step"] - a["cpu_step"]) * 1000
        print(
            f"  (AGENTCTL_STREAM=always: {extra:+.2f} ms, cpu {cpu:+.2f} ms per step over plain;"
            " litellm's streaming of every call, not a goal)"
        )


if __name__ == "__main__":
    sys.exit(main())
