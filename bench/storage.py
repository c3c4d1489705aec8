"""Database growth per trivial agent step (scripted model, read_file of a tiny file).

For each job size, a fresh database: create the job, `PRAGMA wal_checkpoint(TRUNCATE)`,
measure the file; run the job; checkpoint again, measure again. Reported per step:
the file growth (page granularity), the bytes of the job's events (`length(data)`, plus the
row's other columns) and of new blobs, and the WAL written (frames x page size: the write
volume, not the space kept). Linear growth shows as the same per-step figure for every size
and as the marginal growth between sizes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import struct
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import itertools

from _common import BenchModel, agent_recipe, checkpoint, deps, fs_type, make_job, table

from agentctl.engine.run import run_job
from agentctl.store.sqlite import SQLiteStore

TARGET_BYTES = 2048


def db_bytes(store: SQLiteStore) -> int:
    checkpoint(store)
    return os.path.getsize(store.path)


def wal_frames(wal: Path, page_size: int) -> tuple[int, int]:
    """(frames, commits) in a WAL file: each frame is a 24-byte header and a page; a commit's
    last frame has a non-zero "database size" in its header."""
    frames = commits = 0
    try:
        data = wal.read_bytes()
    except FileNotFoundError:
        return 0, 0
    offset = 32
    while offset + 24 + page_size <= len(data):
        _, db_size = struct.unpack(">II", data[offset : offset + 8])
        frames += 1
        commits += db_size != 0
        offset += 24 + page_size
    return frames, commits


def measure(steps: int, folder: Path) -> dict:
    workspace = folder / "ws"
    workspace.mkdir()
    (workspace / "tiny.txt").write_text("hello\n")
    store = SQLiteStore(folder / "agentctl.db")
    job = make_job(store, workspace, agent_recipe(["read_file"]))
    page_size = store.conn.execute("PRAGMA page_size").fetchone()[0]
    before = db_bytes(store)
    blobs_before = store.conn.execute(
        "SELECT COALESCE(SUM(length(data)), 0) FROM blobs"
    ).fetchone()[0]
    seq_before = store.get_job(job)["last_seq"]
    # No automatic checkpoint on the runner's connection, so the WAL holds every frame the
    # run wrote; a long lease keeps the heartbeat's renewals (its own commits) out of it too.
    store.conn.execute("PRAGMA wal_autocheckpoint = 0")
    runner = deps(store, BenchModel(steps, ("read_file", {"path": "tiny.txt"})))
    runner.lease_ttl = 3600.0
    outcome = run_job(job, runner)
    assert outcome.state == "succeeded", outcome
    frames, commits = wal_frames(Path(f"{store.path}-wal"), page_size)
    after = db_bytes(store)
    row = store.conn.execute(
        "SELECT COUNT(*), SUM(length(data)),"
        " SUM(length(job_id) + 8 + 8 + length(type) + COALESCE(length(step), 0) + length(data))"
        " FROM events WHERE job_id = ? AND seq > ?",
        (job, seq_before),
    ).fetchone()
    blobs_after = store.conn.execute("SELECT COALESCE(SUM(length(data)), 0) FROM blobs").fetchone()[
        0
    ]
    freelist = store.conn.execute("PRAGMA freelist_count").fetchone()[0]
    store.close()
    return {
        "steps": steps,
        "before": before,
        "after": after,
        "events": row[0],
        "data": row[1],
        "payload": row[2],
        "blobs": blobs_after - blobs_before,
        "wal_bytes": frames * page_size,
        "frames": frames,
        "commits": commits,
        "freelist": freelist,
        "page_size": page_size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes", default="50,200,1000", help="steps per job, comma-separated (50,200,1000)"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    tmp = Path(os.environ.get("BENCH_DIR") or tempfile.gettempdir())
    results = []
    for steps in sizes:
        folder = Path(tempfile.mkdtemp(prefix="agentctl-bench-", dir=tmp))
        try:
            results.append(measure(steps, folder))
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    print(
        f"agentctl storage per trivial step (scripted model, read_file of a 6-byte file),"
        f" database on {tmp} ({fs_type(tmp)}), page size {results[0]['page_size']}"
    )
    print()
    rows = []
    for r in results:
        n = r["steps"]
        growth = (r["after"] - r["before"]) / n
        rows.append(
            [
                n,
                r["events"],
                r["before"],
                r["after"],
                f"{growth:.0f}",
                f"{r['data'] / n:.0f}",
                f"{r['payload'] / n:.0f}",
                f"{r['blobs'] / n:.0f}",
                f"{r['wal_bytes'] / n:.0f}",
                f"{r['commits'] / n:.2f}",
                f"{r['frames'] / max(r['commits'], 1):.2f}",
                f"<= {TARGET_BYTES}",
                "ok" if growth <= TARGET_BYTES else "OVER",
            ]
        )
    print("bytes (per step unless said)")
    print(
        table(
            [
                "steps",
                "events",
                "db before",
                "db after",
                "growth/step",
                "data/step",
                "event rows/step",
                "blobs/step",
                "WAL written/step",
                "commits/step",
                "pages/commit",
                "target",
                "verdict",
            ],
            rows,
        )
    )
    print()
    print("linearity: marginal growth between job sizes (bytes per extra step)")
    rows = []
    for a, b in itertools.pairwise(results):
        extra = b["steps"] - a["steps"]
        rows.append(
            [
                f"{a['steps']} -> {b['steps']}",
                f"{((b['after'] - b['before']) - (a['after'] - a['before'])) / extra:.0f}",
                f"{(b['data'] - a['data']) / extra:.1f}",
                f"{(b['events'] - a['events']) / extra:.2f}",
            ]
        )
    print(table(["sizes", "db growth", "event data", "events"], rows))
    print()
    print(
        "growth/step: file size after minus before, each after wal_checkpoint(TRUNCATE);"
        " data/step: sum(length(events.data)); event rows/step: data plus job_id, seq, ts,"
        " type, step;\nWAL written/step: frames the run appended to the WAL x page size (write"
        " volume before checkpoints, which copy it again into the database file)."
    )


if __name__ == "__main__":
    main()
