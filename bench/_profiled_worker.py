"""`agentctl worker` with each forked job child under cProfile (bench only).

    python bench/_profiled_worker.py DIR worker [--once ...]

Runs the ordinary CLI in this process after wrapping `agentctl.process.fork.fork_child`:
the child's `run()` is profiled with a CPU-time clock (`time.thread_time`, so a loaded
machine does not inflate it) and dumps DIR/<pid>.pstats before the child exits; each thread
the child starts, and each model request (run in a thread by `models.bounds`), is profiled
too, into DIR/<pid>-<n>.pstats.
The profile covers the child from just after its setup (session, signals, log file) to the
job's end. The child also writes DIR/<pid>.cpu: the CPU seconds of the processes its job
started (the reaper, bubblewrap, the shell: getrusage of its waited-for children, which no
profiler sees). The worker's loop (`Worker.run` in its main thread: claims, forks, reaping,
and litellm's import at its first agent job) is profiled the same way into
DIR/parent-<pid>.prof.
"""

from __future__ import annotations

import cProfile
import os
import resource
import sys
import threading
import time
from pathlib import Path


def main() -> None:
    folder = Path(sys.argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    sys.argv = [sys.argv[0], *sys.argv[2:]]

    import agentctl.models.bounds as bounds
    import agentctl.process.fork as fork

    original, submit = fork.fork_child, bounds._submit

    def profiled_fork_child(run, *, log_path):  # type: ignore[no-untyped-def]
        def profiled() -> int:
            thread_run = threading.Thread.run
            numbers = iter(range(1, 1 << 30))
            pending = [0]  # profiles of other threads not yet written
            written = threading.Condition()

            def profiled_call(call, *args):  # type: ignore[no-untyped-def]
                with written:
                    pending[0] += 1
                profile = cProfile.Profile(time.thread_time)
                try:
                    profile.runcall(call, *args)
                finally:
                    part = folder / f"{os.getpid()}-{next(numbers)}.pstats"
                    profile.dump_stats(f"{part}.tmp")
                    os.rename(f"{part}.tmp", part)
                    with written:
                        pending[0] -= 1
                        written.notify_all()

            threading.Thread.run = lambda self: profiled_call(thread_run, self)  # type: ignore[method-assign]
            bounds._submit = lambda job: submit(lambda: profiled_call(job))
            profile = cProfile.Profile(time.thread_time)
            try:
                return profile.runcall(run)
            finally:
                profile.dump_stats(folder / f"{os.getpid()}.pstats")
                started = resource.getrusage(resource.RUSAGE_CHILDREN)
                (folder / f"{os.getpid()}.cpu").write_text(f"{started.ru_utime + started.ru_stime}")
                with written:  # a request thread puts its answer, then writes its profile
                    written.wait_for(lambda: pending[0] == 0, timeout=2.0)

        return original(profiled, log_path=log_path)

    fork.fork_child = profiled_fork_child
    from agentctl.cli import main as cli_main
    from agentctl.engine.worker import Worker

    loop = Worker.run

    def profiled_loop(self):  # type: ignore[no-untyped-def]
        parent = cProfile.Profile(time.thread_time)
        try:
            return parent.runcall(loop, self)
        finally:
            parent.dump_stats(folder / f"parent-{os.getpid()}.prof")

    Worker.run = profiled_loop  # type: ignore[method-assign]
    cli_main()


if __name__ == "__main__":
    main()
