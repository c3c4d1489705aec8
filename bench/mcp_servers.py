"""What an MCP server costs a run: starting it (unconfined and under bubblewrap) and a call.

    .venv/bin/python bench/mcp_servers.py [--calls N] [--repeat R]

Starts mcp-server-time over stdio through agentctl's McpHub (the reaper, and bwrap when
confined), lists its tools, makes N calls of get_current_time, and closes it; best of R
runs. Also times `import mcp` in a fresh interpreter (what `agentctl-jobs[mcp]` adds to a run
that starts a server; `agentctl jobs` never imports it). Prints the load average: on a busy
machine the wall-clock figures move a lot.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agentctl.process.run import minimal_env
from agentctl.process.sandbox import SandboxSettings, probe_confinement
from agentctl.tools.mcp_client import McpHub, ServerLaunch


def one_run(sandbox: str, calls: int, workspace: Path) -> tuple[float, float, float, float]:
    plan = ServerLaunch(
        "time",
        argv=[sys.executable, "-m", "mcp_server_time"],
        env=minimal_env(),
        cwd=workspace,
        sandbox=SandboxSettings(sandbox, network=False),
    )
    t0 = time.perf_counter()
    hub = McpHub({"time": plan})
    hub.start(["time"])
    t1 = time.perf_counter()
    hub.list_tools("time")
    t2 = time.perf_counter()
    for _ in range(calls):
        result = hub.call("time", "get_current_time", {"timezone": "UTC"}, timeout=30)
        assert result.ok, result.output
    t3 = time.perf_counter()
    hub.close()
    t4 = time.perf_counter()
    return t1 - t0, t2 - t1, (t3 - t2) / calls, t4 - t3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    imports = []
    for _ in range(options.repeat):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import mcp"], check=True)
        with_mcp = time.perf_counter() - t
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        imports.append(with_mcp - (time.perf_counter() - t))
    print(f"import mcp (fresh interpreter, best of {options.repeat}): {min(imports) * 1000:.0f} ms")
    modes = ["off"] + (["required"] if probe_confinement().available else [])
    print(
        f"{'sandbox':<10}{'start':>10}{'list':>10}{'per call':>12}{'close':>10}  (best of {options.repeat})"
    )
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as folder:
        for mode in modes:
            runs = [one_run(mode, options.calls, Path(folder)) for _ in range(options.repeat)]
            best = [min(r[i] for r in runs) for i in range(4)]
            print(
                f"{mode:<10}{best[0] * 1000:>8.0f}ms{best[1] * 1000:>8.1f}ms"
                f"{best[2] * 1000:>10.2f}ms{best[3] * 1000:>8.0f}ms"
            )


if __name__ == "__main__":
    main()
