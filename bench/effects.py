"""What the effect check (issue 21) adds to an action, on a 10,000-file workspace.

The snapshot around an action happened before the check existed; what is new per action is
(a) the walk noting each `.git` it passes and looking at protected names git ignores, and
(b) deciding each changed path as a write (`agentctl.policy.effects.check_effects`), and,
only for an action a policy refuses, (c) undoing it. Builds `--files` small files (100 per
folder, a `.git` folder and a `.gitignore`d build tree), then times with the shipped
policies:
  - a no-change action: `before` + `after_with_markers` (two walks; compare with
    bench/snapshot.py's no-change figure on an older checkout for (a));
  - the check alone for change sets of 1, 10 and 100 files and for a `.git` appearing;
  - a whole shell-like action that edits one file: walk, walk, check;
  - undoing an action that created 100 files.
Best and median of `--repeat` runs. Goal: the check adds <= 25 ms per action.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _common import fs_type, table  # noqa: E402
from snapshot import build_tree  # noqa: E402

from agentctl.changes.record import ChangeRecorder  # noqa: E402
from agentctl.engine.effects import undo_action  # noqa: E402
from agentctl.policy.effects import check_effects  # noqa: E402
from agentctl.policy.rules import PolicySet  # noqa: E402
from agentctl.tools.builtin import builtin_spec  # noqa: E402

POLICIES = ROOT / "agentctl" / "shipped" / "policies"
SHELL = builtin_spec("shell")


def timed(fn: Callable[[], object], repeat: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each run: on a shared machine the CPU time is the one that
    says what the work costs (the wall time adds waiting for a core)."""
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return wall, cpu


def row(name: str, times: tuple[list[float], list[float]]) -> list[str]:
    wall, cpu = times
    return [
        name,
        f"{min(wall) * 1000:.2f}",
        f"{statistics.median(wall) * 1000:.2f}",
        f"{statistics.median(cpu) * 1000:.2f}",
    ]


def change_set(recorder: ChangeRecorder, ws: Path, count: int) -> list[dict]:
    """The recorded changes of an action that creates `count` files (then removed again)."""
    token = recorder.before(SHELL, {"command": "gen"})
    made = [ws / "pkg000" / f"new{i}.py" for i in range(count)]
    for path in made:
        path.write_text("print('new')\n")
    changes = recorder.after(token)
    for path in made:
        path.unlink()
    recorder.after(recorder.before(SHELL, {"command": "true"}))  # the cache forgets them
    return changes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="agentctl-bench-effects-", dir=os.environ.get("BENCH_DIR")))
    try:
        ws = base / "ws"
        ws.mkdir()
        build_tree(ws, args.files)
        (ws / ".gitignore").write_text("build/\n")
        (ws / "build").mkdir()
        time.sleep(0.2)  # past the recorder's racy-timestamp window
        recorder = ChangeRecorder(ws)
        recorder.prime()
        rows = []

        def no_change() -> None:
            token = recorder.before(SHELL, {"command": "true"})
            assert recorder.after_with_markers(token) == ([], [])

        rows.append(
            row("no-change action: two walks (with .git notes)", timed(no_change, args.repeat))
        )
        sets = {n: change_set(recorder, ws, n) for n in (1, 10, 100)}
        marker = [{"path": "pkg001/.git", "kind": "created"}]
        for name in ("dev-laptop", "ci-safe", "read-only"):
            policy = PolicySet.from_files([POLICIES / f"{name}.yaml"])
            for n, changes in sets.items():

                def check(changes: list[dict] = changes, policy: PolicySet = policy) -> None:
                    check_effects(policy, "shell", changes, [], workspace=ws)

                rows.append(row(f"check {n} created file(s), {name}", timed(check, args.repeat)))
            rows.append(
                row(
                    f"check a .git appearing, {name}",
                    timed(
                        lambda p=policy: check_effects(p, "shell", [], marker, workspace=ws),
                        args.repeat,
                    ),
                )
            )
        policy = PolicySet.from_files([POLICIES / "ci-safe.yaml"])
        target = ws / "pkg000" / "mod000.py"
        original = target.read_text()

        def edit_action() -> None:
            token = recorder.before(SHELL, {"command": "edit"})
            target.write_text(original + f"# {time.perf_counter_ns()}\n")
            changes, markers = recorder.after_with_markers(token)
            check_effects(policy, "shell", changes, markers, workspace=ws)

        rows.append(
            row("edit-one-file action: walks + check, ci-safe", timed(edit_action, args.repeat))
        )
        target.write_text(original)

        def undo_hundred() -> None:
            token = recorder.before(SHELL, {"command": "gen"})
            for i in range(100):
                (ws / "pkg000" / f"new{i}.py").write_text("print('new')\n")
            changes, markers = recorder.after_with_markers(token)
            start, start_cpu = time.perf_counter(), time.process_time()
            problems = undo_action(ws, changes, markers)
            undo_times[0].append(time.perf_counter() - start)
            undo_times[1].append(time.process_time() - start_cpu)
            assert not problems, problems

        undo_times: tuple[list[float], list[float]] = ([], [])
        for _ in range(args.repeat):
            undo_hundred()
        rows.append(row("undo an action that created 100 files", undo_times))
        print(f"workspace: {args.files:,} files on {fs_type(ws)}; {args.repeat} runs each")
        print(table(["what", "best ms", "median ms", "median cpu ms"], rows))
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
