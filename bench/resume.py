"""Time to resume a long job: load its log and replay it up to the next new model call.

The job is built by the real runner: one agent step whose scripted model asks for read_file
`--turns` times (3 events a turn: model_response, action_started, action_finished), then
raises KeyboardInterrupt instead of answering, so the job ends `interrupted` with ~10,000
events. That database is checkpointed and kept as a template. Each resume starts from a
fresh copy of it and is timed from the call of run_job to the first call of the new model
(which interrupts again): lease, recipe load, reading and indexing the log, the
runner_started commit, and replaying every recorded turn from the log.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BenchModel, agent_recipe, checkpoint, deps, fs_type, make_job, table

from agentctl.engine.journal import ReplayIndex
from agentctl.engine.run import run_job
from agentctl.store.sqlite import SQLiteStore

TARGET_SECONDS = 0.3


def build(folder: Path, turns: int) -> tuple[Path, str, float]:
    workspace = folder / "ws"
    workspace.mkdir()
    (workspace / "tiny.txt").write_text("hello\n")
    template = folder / "template.db"
    store = SQLiteStore(template)
    job = make_job(store, workspace, agent_recipe(["read_file"]))
    model = BenchModel(turns, ("read_file", {"path": "tiny.txt"}), interrupt_after=True)
    started = time.perf_counter()
    outcome = run_job(job, deps(store, model))
    took = time.perf_counter() - started
    assert outcome.state == "interrupted", outcome
    assert model.calls == turns + 1
    checkpoint(store)
    store.close()
    return template, job, took


class Pieces:
    """Times Store.read_events and ReplayIndex.from_events inside the real resume."""

    def __init__(self, store: SQLiteStore) -> None:
        self.read_events = 0.0
        self.index = 0.0
        real_read = store.read_events

        def read_events(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return real_read(*args, **kwargs)
            finally:
                self.read_events += time.perf_counter() - t0

        store.read_events = read_events  # this instance only
        self._real_from_events = ReplayIndex.__dict__["from_events"]
        real_from = ReplayIndex.from_events

        def from_events(cls, events):
            t0 = time.perf_counter()
            try:
                return real_from(events)
            finally:
                self.index += time.perf_counter() - t0

        ReplayIndex.from_events = classmethod(from_events)

    def restore(self) -> None:
        ReplayIndex.from_events = self._real_from_events


def resume_once(template: Path, folder: Path, job: str, n: int) -> dict:
    db = folder / f"resume{n}.db"
    shutil.copyfile(template, db)
    t_open = time.perf_counter()
    store = SQLiteStore(db)
    opened = time.perf_counter() - t_open
    model = BenchModel(0, None, interrupt_after=True)
    pieces = Pieces(store)
    try:
        start, start_cpu = time.perf_counter(), time.process_time()
        outcome = run_job(job, deps(store, model))
    finally:
        pieces.restore()
    assert outcome.state == "interrupted", outcome
    assert model.first_call_at is not None and model.calls == 1
    replayed = model.first_call_at - start
    replayed_cpu = model.first_call_cpu - start_cpu
    store.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return {
        "total": replayed,
        "cpu": replayed_cpu,
        "open": opened,
        "read_events": pieces.read_events,
        "index": pieces.index,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--turns", type=int, default=3300, help="read_file turns in the job (3300: ~10,000 events)"
    )
    parser.add_argument("--runs", type=int, default=5, help="resumes timed; median shown (5)")
    args = parser.parse_args()
    tmp = Path(os.environ.get("BENCH_DIR") or tempfile.gettempdir())
    folder = Path(tempfile.mkdtemp(prefix="agentctl-bench-", dir=tmp))
    try:
        template, job, build_seconds = build(folder, args.turns)
        probe = SQLiteStore(template)
        events = probe.get_job(job)["last_seq"]
        state = probe.get_job(job)["state"]
        probe.close()
        size = os.path.getsize(template)
        runs = [resume_once(template, folder, job, n) for n in range(args.runs)]
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(
        f"agentctl resume: job with {args.turns} read_file turns, {events} events,"
        f" state {state}, database {size / 1e6:.1f} MB on {tmp} ({fs_type(tmp)});"
        f" built in {build_seconds:.1f} s by the real runner"
    )
    print()
    print(
        table(
            ["run", "run_job -> next model call, wall s", "cpu s"],
            [[n + 1, f"{r['total']:.3f}", f"{r['cpu']:.3f}"] for n, r in enumerate(runs)],
        )
    )
    print()
    verdict = "ok" if med["total"] < TARGET_SECONDS else "OVER"
    print(
        table(
            ["measure", "median, s", "target", "verdict"],
            [
                [
                    "resume: run_job start -> next model call",
                    f"{med['total']:.3f}",
                    f"< {TARGET_SECONDS}",
                    verdict,
                ],
                ["  the same in CPU time (process, all threads)", f"{med['cpu']:.3f}", "", ""],
                ["  of which Store.read_events (all events)", f"{med['read_events']:.3f}", "", ""],
                ["  of which ReplayIndex.from_events", f"{med['index']:.3f}", "", ""],
                [
                    "  the rest (lease, recipe, commit, replaying the turns)",
                    f"{med['total'] - med['read_events'] - med['index']:.3f}",
                    "",
                    "",
                ],
                ["(before run_job) opening the Store", f"{med['open']:.3f}", "", ""],
            ],
        )
    )
    print(
        f"\nper event: {med['total'] / events * 1e6:.1f} us wall (the pieces are timed"
        " inside the same resumes)"
    )


if __name__ == "__main__":
    main()
