"""The hash chain's cost on the append path (issue 21, item 10): CPU per `Store.append` of one
action_finished-sized event with the chain, and with the hash left out, on SQLite.

    .venv/bin/python bench/audit_chain.py [--appends N] [--rounds R]

CPU time (process_time), not wall time: the machine this runs on is shared. The two variants
alternate R times; each round uses a fresh database.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

import agentctl.store.sqlstore as sqlstore
from agentctl.store import NewEvent, open_store
from agentctl.store.chain import event_hash


def append_cost(hash_fn: Callable[..., Any], appends: int) -> float:
    """Microseconds of CPU per append with `hash_fn` making each event's hash."""
    sqlstore.event_hash = hash_fn
    store = open_store(os.path.join(tempfile.mkdtemp(), "bench.db"))
    store.create_job(
        job_id="j",
        recipe="r",
        recipe_path=None,
        recipe_text="version: 1",
        params={},
        options={},
        workspace="/tmp",
        now=1.0,
        event=NewEvent("job_created", None, {}),
    )
    started = time.process_time()
    for i in range(appends):
        data = {"key": f"a/t{i}/c0", "ok": True, "output": "hello world " * 20}
        store.append_events("j", [NewEvent("action_finished", "a", data)], now=2.0 + i)
    spent = time.process_time() - started
    store.close()
    return spent / appends * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    started = time.process_time()
    for i in range(20000):
        event_hash("f" * 64, "job", i, 1.5, "action_finished", "a", '{"ok":true}')
    print(f"event_hash alone: {(time.process_time() - started) / 20000 * 1e6:.1f} us CPU")
    try:
        for _ in range(args.rounds):
            chained = append_cost(event_hash, args.appends)
            bare = append_cost(lambda *_: None, args.appends)
            print(
                f"append: {chained:.0f} us CPU with the chain, {bare:.0f} without"
                f" ({chained - bare:+.0f} us)"
            )
    finally:
        sqlstore.event_hash = event_hash


if __name__ == "__main__":
    main()
