"""What confining one command costs before it starts: `build_argv` on a 10,000-file workspace.

`build_argv` walks the workspace for `.git`, `.agentctl` and `.env*` files (to mount them
read-only or hide them) and lists home folders and host secret files; this runs once per
shell action. Builds `--files` small files (default 10,000, 100 per folder) with a `.git`
folder, a nested repository and a few `.env` files, then times `build_argv` (best and median
of `--repeat` runs) and, where bubblewrap works, one whole confined `true` through
`run_process` against an unconfined one. Prints the number of mounts added too.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _common import table  # noqa: E402

from agentctl.process import sandbox_user  # noqa: E402
from agentctl.process.bwrap import build_argv  # noqa: E402
from agentctl.process.confine import Sandbox  # noqa: E402
from agentctl.process.run import minimal_env, run_process  # noqa: E402
from agentctl.process.sandbox import (  # noqa: E402
    Confinement,
    SandboxSettings,
    probe_confinement,
)
from agentctl.process.sandbox_user import root_only_paths  # noqa: E402


def build_tree(root: Path, files: int) -> None:
    for i in range(files):
        folder = root / f"pkg{i // 100:03d}"
        if i % 100 == 0:
            folder.mkdir(parents=True)
        (folder / f"mod{i % 100:03d}.py").write_text(f"# file {i}\n")
    (root / ".git" / "objects").mkdir(parents=True)
    (root / "vendor" / "lib" / ".git").mkdir(parents=True)
    for name in (".env", "pkg000/.env.local", "pkg001/.env.test"):
        (root / name).write_text("TOKEN=abcdefgh12345678\n")


def timed(fn, repeat: int) -> tuple[float, float]:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    return min(runs), statistics.median(runs)


def _as_root(ws: Path, env: dict[str, str], repeat: int) -> list[tuple[str, str, str]]:
    """Root's two ways (agentctl.process.sandbox_user): hiding what only root may read in a
    root-owned workspace (the scan alone, then a confined `true`, above), and dropping to the
    owner of a user's workspace (a confined `true` after chown to nobody)."""
    rows = []
    best, median = timed(lambda: _rescan(ws), repeat)
    rows.append(("root-only scan (uncached)", f"{best * 1000:.1f} ms", f"{median * 1000:.1f} ms"))
    best, median = timed(lambda: root_only_paths(str(ws), env["PATH"]), repeat)
    rows.append(("root-only paths (cached)", f"{best * 1000:.2f} ms", f"{median * 1000:.2f} ms"))
    for folder, _, names in os.walk(ws):
        for name in [".", *names]:
            os.chown(os.path.join(folder, name), 65534, 65534)
    best, median = timed(
        lambda: run_process("true", cwd=ws, env=env, timeout=30, sandbox=_confined()),
        repeat,
    )
    rows.append(("run_process true, user's ws", f"{best * 1000:.1f} ms", f"{median * 1000:.1f} ms"))
    return rows


def _confined() -> Sandbox:
    return Sandbox(SandboxSettings(), probe_confinement())


def _rescan(ws: Path) -> None:
    sandbox_user._scanned = None
    root_only_paths(str(ws), "/usr/bin:/bin")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="agentctl-bench-", dir=os.environ.get("BENCH_DIR")))
    try:
        ws = base / "ws"
        build_tree(ws, args.files)
        fake = Confinement("bwrap", "", network_isolation=True, bwrap="/usr/bin/bwrap")
        no_net = SandboxSettings(network=False)
        argv = build_argv("true", no_net, workspace=ws, confinement=fake)
        best, median = timed(
            lambda: build_argv("true", no_net, workspace=ws, confinement=fake), args.repeat
        )
        rows = [("build_argv", f"{best * 1000:.1f} ms", f"{median * 1000:.1f} ms")]
        probed = probe_confinement()
        if probed.available:
            env = minimal_env()
            for label, conf in (
                ("run_process true, confined", _confined()),
                ("run_process true, unconfined", None),
            ):
                best, median = timed(
                    lambda conf=conf: run_process(
                        "true", cwd=ws, env=env, timeout=30, sandbox=conf
                    ),
                    args.repeat,
                )
                rows.append((label, f"{best * 1000:.1f} ms", f"{median * 1000:.1f} ms"))
            if os.getuid() == 0:
                rows += _as_root(ws, env, args.repeat)
        print(f"workspace: {args.files} files; load average {os.getloadavg()[0]:.1f}")
        print(f"mount arguments added: {argv.count('--ro-bind') + argv.count('--tmpfs')}")
        print(table(["what", "best", "median"], rows))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
