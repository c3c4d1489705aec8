"""`agentctl worker` with each forked job child under cProfile (bench only).

    python bench/_profiled_worker.py DIR worker [--once ...]

Runs the ordinary CLI in this process after wrapping `agentctl.process.fork.fork_child`:
the child's `run()` is profiled with a CPU-time clock (`time.process_time`, so a loaded
machine does not inflate it) and dumps DIR/<pid>.pstats before the child exits. The profile
covers the child from just after its setup (session, signals, log file) to the job's end.
"""

from __future__ import annotations

import cProfile
import os
import sys
import time
from pathlib import Path


def main() -> None:
    folder = Path(sys.argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    sys.argv = [sys.argv[0], *sys.argv[2:]]

    import agentctl.process.fork as fork

    original = fork.fork_child

    def profiled_fork_child(run, *, log_path):  # type: ignore[no-untyped-def]
        def profiled() -> int:
            profile = cProfile.Profile(time.process_time)
            try:
                return profile.runcall(run)
            finally:
                profile.dump_stats(folder / f"{os.getpid()}.pstats")

        return original(profiled, log_path=log_path)

    fork.fork_child = profiled_fork_child
    from agentctl.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
