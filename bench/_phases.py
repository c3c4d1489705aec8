"""Where a queued job's wake-up goes, phase by phase (bench/workers.py --phases; bench only).

    python bench/_phases.py DIR worker ...     # a traced `agentctl worker` (the bench starts it)

The traced worker runs the ordinary CLI after wrapping a few functions to write timestamps
(`time.time()`, one JSON line per record, a file per process under DIR): a look for work that
found some (`seen`), each claim (`claim`, with its job or none), the fork of a job's child
(`fork`), the child's first line (`child`), its first lease write (`adopt`) and the start of
its `runner_started` (`announce`). `phase_rows` turns them, with each job's enqueue time and
`runner_started`, into p50/p90/max per phase. The wrappers cost a little: the bench's own
wake-up figures are measured without them.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

PHASES = [
    ("enqueue -> seen", "the winner's look found the job (its last before the claim)"),
    ("claim", "the winning claim's transaction"),
    ("claim -> fork", "the worker's work before forking"),
    ("fork -> child", "fork() and the child's first line"),
    ("child -> adopt", "the child's store opened, its session to the lease write"),
    ("adopt", "the lease write (adopt_lease)"),
    ("adopt -> announce", "the job's state read, up to runner_started"),
    ("enqueue -> runner_started", "the whole (the bench's wake-up figure)"),
]


def _trace(folder: Path) -> None:
    """Wrap the worker's and the job child's functions to write timestamps under `folder`."""
    import agentctl.engine.run as run_module
    import agentctl.process.fork as fork
    import agentctl.store.leases as leases

    files: dict[int, object] = {}

    def log(**record: object) -> None:
        pid = os.getpid()
        if pid not in files:
            files[pid] = open(folder / f"{pid}.jsonl", "a", buffering=1)  # noqa: SIM115
        record.setdefault("t", time.time())
        files[pid].write(json.dumps({**record, "pid": pid}) + "\n")  # type: ignore[attr-defined]

    def wrap(owner: object, name: str, make) -> None:  # type: ignore[no-untyped-def]
        setattr(owner, name, make(getattr(owner, name)))

    def looks(original):  # type: ignore[no-untyped-def]
        def wait_for_work(self, queues, timeout, **kw):  # type: ignore[no-untyped-def]
            found = original(self, queues, timeout, **kw)
            if found:
                log(ev="seen")
            return found

        return wait_for_work

    def claims(original):  # type: ignore[no-untyped-def]
        def claim_job(self, queues, **kw):  # type: ignore[no-untyped-def]
            began = time.time()
            claim = original(self, queues, **kw)
            log(ev="claim", t=began, end=time.time(), job=claim.job_id if claim else None)
            return claim

        return claim_job

    def adopts(original):  # type: ignore[no-untyped-def]
        def adopt_lease(self, job_id, token, **kw):  # type: ignore[no-untyped-def]
            began = time.time()
            original(self, job_id, token, **kw)
            log(ev="adopt", t=began, end=time.time(), job=job_id)

        return adopt_lease

    def forks(original):  # type: ignore[no-untyped-def]
        def fork_child(run, *, log_path):  # type: ignore[no-untyped-def]
            job, began = log_path.stem, time.time()

            def traced() -> int:
                log(ev="child", job=job)
                return run()

            child = original(traced, log_path=log_path)
            log(ev="fork", t=began, job=job)
            return child

        return fork_child

    def announces(original):  # type: ignore[no-untyped-def]
        def announce_start(run):  # type: ignore[no-untyped-def]
            log(ev="announce", job=run.job_id)
            original(run)

        return announce_start

    wrap(leases.Leases, "wait_for_work", looks)
    wrap(leases.Leases, "claim_job", claims)
    wrap(leases.Leases, "adopt_lease", adopts)
    wrap(fork, "fork_child", forks)
    wrap(run_module, "announce_start", announces)


def phase_rows(folder: Path, queued: dict[str, tuple[float, float]]) -> list[list[str]]:
    """p50/p90/max (ms) of each phase over the jobs of `queued` (job -> (enqueued at,
    runner_started at)), from the traced workers' records under `folder`."""
    records = [json.loads(line) for f in folder.glob("*.jsonl") for line in f.open()]
    by_job: dict[str, dict[str, dict]] = {}
    seen: dict[int, list[float]] = {}
    for record in sorted(records, key=lambda r: r["t"]):
        if record["ev"] == "seen":
            seen.setdefault(record["pid"], []).append(record["t"])
        elif record.get("job"):
            by_job.setdefault(record["job"], {}).setdefault(record["ev"], record)
    spans: dict[str, list[float]] = {name: [] for name, _ in PHASES}
    for job, (enqueued, started) in queued.items():
        got = by_job.get(job, {})
        if not all(k in got for k in ("claim", "fork", "child", "adopt", "announce")):
            continue
        claim, adopt = got["claim"], got["adopt"]
        looks = [t for t in seen.get(claim["pid"], []) if t <= claim["t"]]
        marks = {
            "enqueue -> seen": (enqueued, looks[-1] if looks else claim["t"]),
            "claim": (claim["t"], claim["end"]),
            "claim -> fork": (claim["end"], got["fork"]["t"]),
            "fork -> child": (got["fork"]["t"], got["child"]["t"]),
            "child -> adopt": (got["child"]["t"], adopt["t"]),
            "adopt": (adopt["t"], adopt["end"]),
            "adopt -> announce": (adopt["end"], got["announce"]["t"]),
            "enqueue -> runner_started": (enqueued, started),
        }
        for name, (start, end) in marks.items():
            spans[name].append(max(0.0, end - start) * 1000)
    rows = []
    for name, what in PHASES:
        ms = sorted(spans[name])
        if ms:
            p50, p90 = ms[len(ms) // 2], ms[int(len(ms) * 0.9)]
            rows.append([name, f"{p50:.1f}", f"{p90:.1f}", f"{ms[-1]:.1f}", what])
    return rows


def main() -> None:
    folder = Path(sys.argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    sys.argv = [sys.argv[0], *sys.argv[2:]]
    _trace(folder)
    from agentctl.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
