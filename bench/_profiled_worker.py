"""`agentctl worker` with each forked job child under cProfile (bench only).

    python bench/_profiled_worker.py DIR worker [--once ...]

Runs the ordinary CLI in this process after wrapping `agentctl.process.fork.fork_child`:
the child's `run()` is profiled with a CPU-time clock (`time.thread_time`, so a loaded
machine does not inflate it) and dumps DIR/<pid>.pstats before the child exits; each thread
the child starts (a model request runs in one) is profiled too, into DIR/<pid>-<n>.pstats.
The profile covers the child from just after its setup (session, signals, log file) to the
job's end.
"""

from __future__ import annotations

import cProfile
import os
import sys
import threading
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
            thread_run = threading.Thread.run
            started = iter(range(1, 1 << 30))

            def profiled_thread(self: threading.Thread) -> None:
                profile = cProfile.Profile(time.thread_time)
                try:
                    profile.runcall(thread_run, self)
                finally:
                    profile.dump_stats(folder / f"{os.getpid()}-{next(started)}.pstats")

            threading.Thread.run = profiled_thread  # type: ignore[method-assign]
            profile = cProfile.Profile(time.thread_time)
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
