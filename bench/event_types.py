"""What the runner's heartbeat pays to notice an added policy, and what the index costs appends.

    .venv/bin/python bench/event_types.py [--postgres URL] [--events N]

For each backend, in a fresh database with and without the `events_type` index (migration 3,
dropped by hand for the comparison): the time of one single-event `append` (mean of 2,000 after 200 unmeasured; the two
variants alternate, twice, and the faster round of each is shown),
then, on a job of N events (100,000) of which one is a `policy_added`, the heartbeat's poll
(`read_events(types=["policy_added"])`, median of 200) and, for comparison, what the heartbeat
read per beat before it asked by type: every event appended since the last beat (400 here, a
busy job's traffic in one quarter-second beat). Without --postgres (or
AGENTCTL_BENCH_POSTGRES_URL) only SQLite is measured.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from _common import median, table
from workers import database

from agentctl.store import NewEvent, Store, open_store
from agentctl.store.sqlstore import SqlStore

NOISE = NewEvent("model_response", "s", {"text": "x" * 200})
BEAT_TRAFFIC = 400


def drop_index(store: Store, kind: str) -> None:
    assert isinstance(store, SqlStore)  # both backends: around the interface, on purpose
    store.dialect.transact(lambda tx: tx.run("DROP INDEX events_type"), write=True)


def measure(kind: str, target: str, events: int, indexed: bool) -> list[str]:
    store = open_store(target)
    if not indexed:
        drop_index(store, kind)
    store.create_job(
        job_id="j",
        recipe="r",
        recipe_path=None,
        recipe_text="version: 1",
        params={},
        options={},
        workspace="/tmp",
        now=1.0,
        event=NewEvent("job_created"),
    )
    for _ in range(200):  # warm-up: connection, caches
        store.append_events("j", [NOISE], now=1.0)
    started = time.perf_counter()
    for _ in range(2000):
        store.append_events("j", [NOISE], now=1.0)
    append_us = (time.perf_counter() - started) / 2000 * 1e6
    store.append_events("j", [NewEvent("policy_added", None, {"path": "p", "text": "t"})], now=1.0)
    left = events - 2202
    while left > 0:
        store.append_events("j", [NOISE] * min(left, 5000), now=1.0)
        left -= 5000
    polls = []
    for _ in range(200):
        started = time.perf_counter()
        found = store.read_events("j", after_seq=1, types=["policy_added"])
        polls.append(time.perf_counter() - started)
    assert len(found) == 1
    last = store.get_job("j")["last_seq"]
    started = time.perf_counter()
    store.read_events("j", after_seq=last - BEAT_TRAFFIC)
    untyped = time.perf_counter() - started
    store.close()
    return [
        kind,
        "yes" if indexed else "no",
        f"{append_us:.0f}",
        f"{median(polls) * 1e6:.0f}",
        f"{untyped * 1e6:.0f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("AGENTCTL_BENCH_POSTGRES_URL"))
    parser.add_argument("--events", type=int, default=100_000, help="events in the polled job")
    args = parser.parse_args()
    kinds = ["sqlite"] + (["postgres"] if args.postgres else [])
    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cpus; backends {kinds}")
    rows = []
    with tempfile.TemporaryDirectory(
        prefix="agentctl-bench-", dir=os.environ.get("BENCH_DIR")
    ) as tmp:
        for kind in kinds:
            rounds: dict[bool, list[list[str]]] = {True: [], False: []}
            for _ in range(2):
                for indexed in (True, False):
                    with database(kind, Path(tmp), args.postgres) as target:
                        rounds[indexed].append(measure(kind, target, args.events, indexed))
            rows += [min(rounds[i], key=lambda row: int(row[2])) for i in (True, False)]
    headers = [
        "backend",
        "index",
        "append µs",
        f"typed poll µs ({args.events} events)",
        f"untyped read of {BEAT_TRAFFIC} new events µs",
    ]
    print(table(headers, rows))


if __name__ == "__main__":
    main()
