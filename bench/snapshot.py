"""How much change tracking costs per action: workspace snapshots of a 10,000-file tree.

Builds a workspace of `--files` small text files (default 10,000, ~1 KiB each, 100 per
directory) plus a `.git/` folder the recorder must skip, then times with a fresh
`ChangeRecorder`:
  - the first snapshot (`prime`: walks and reads every file into the content cache);
  - a no-change action (`before` + `after` around nothing: two walks, nothing re-read);
  - an action that edits one file, and one that creates 100 files;
  - a `write_file` action (one file read before and after; no walk).
Best and median of `--repeat` runs; the content cache's size is printed too.
Target: a no-change snapshot (one walk) under 0.5 s.
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

from _common import fs_type, table  # noqa: E402

from agentctl.changes.record import ChangeRecorder  # noqa: E402
from agentctl.tools.builtin import builtin_spec  # noqa: E402


def build_tree(root: Path, files: int) -> None:
    body = ("x" * 63 + "\n") * 16  # 1 KiB of text
    for i in range(files):
        folder = root / f"pkg{i // 100:03d}"
        if i % 100 == 0:
            folder.mkdir(parents=True)
        (folder / f"mod{i % 100:03d}.py").write_text(f"# file {i}\n{body}")
    (root / ".git" / "objects").mkdir(parents=True)
    for i in range(200):
        (root / ".git" / "objects" / f"obj{i}").write_bytes(os.urandom(512))


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    base = Path(
        tempfile.mkdtemp(prefix="agentctl-bench-snapshot-", dir=os.environ.get("BENCH_DIR"))
    )
    try:
        ws = base / "ws"
        ws.mkdir()
        build_tree(ws, args.files)
        time.sleep(0.2)  # let every file age past the recorder's racy-timestamp window
        recorder = ChangeRecorder(ws)
        start = time.perf_counter()
        recorder.prime()
        first = time.perf_counter() - start

        def no_change() -> None:
            assert recorder.after(recorder.before(builtin_spec("shell"), {"command": "true"})) == []

        def one_scan() -> None:
            recorder.before(builtin_spec("shell"), {"command": "true"})

        counter = iter(range(10**9))

        def edit_one() -> None:
            token = recorder.before(builtin_spec("shell"), {"command": "edit"})
            (ws / "pkg000" / "mod000.py").write_text(f"edited {next(counter)}\n")
            assert len(recorder.after(token)) == 1

        def create_100() -> None:
            n = next(counter)
            token = recorder.before(builtin_spec("shell"), {"command": "create"})
            folder = ws / f"new{n}"
            folder.mkdir()
            for i in range(100):
                (folder / f"f{i}.txt").write_text(f"{n} {i}\n")
            assert len(recorder.after(token)) == 100

        def file_tool() -> None:
            token = recorder.before(builtin_spec("write_file"), {"path": "pkg001/mod001.py"})
            (ws / "pkg001" / "mod001.py").write_text(f"written {next(counter)}\n")
            assert len(recorder.after(token)) == 1

        rows = []
        for name, fn in [
            ("one walk (no-change snapshot)", one_scan),
            ("no-change action (before+after)", no_change),
            ("action editing 1 file", edit_one),
            ("action creating 100 files", create_100),
            ("write_file action (no walk)", file_tool),
        ]:
            times = timed(fn, args.repeat)
            rows.append(
                [name, f"{min(times) * 1000:.1f}", f"{statistics.median(times) * 1000:.1f}"]
            )
        print(
            f"workspace: {args.files} files of ~1 KiB in {args.files // 100} folders, plus"
            f" .git/ (skipped); file system {fs_type(ws)}; load average"
            f" {os.getloadavg()[0]:.2f}; {args.repeat} runs each"
        )
        print(
            f"first snapshot (prime: walk + read every file): {first * 1000:.0f} ms;"
            f" content cache {recorder.scanner.kept_bytes / 2**20:.1f} MiB"
        )
        print(table(["operation", "best ms", "median ms"], rows))
        walk = min(float(r[1]) for r in rows[:1]) / 1000
        print(
            f"target: no-change snapshot < 0.5 s: {'met' if walk < 0.5 else 'MISSED'}"
            f" ({walk * 1000:.1f} ms)"
        )
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
