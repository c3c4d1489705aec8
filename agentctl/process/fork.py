"""A job in a forked copy of a warm process: its own process, without a new interpreter.

`agentctl worker` used to start `python -m agentctl worker-run` for every job, and each paid
Python's start and agentctl's imports again (~0.5 s of CPU, ~3 s more with litellm). A warm
worker imports once and forks per job: the child keeps everything a process of its own
gives (a crash, a signal or the sandbox's limits reach only that job; the worker reaps it
and sees its exit code), and the modules it needs are already in memory, shared
copy-on-write with the parent.

The child starts a session of its own (a Ctrl-C at the worker's terminal reaches only the
worker), dies with the worker (PR_SET_PDEATHSIG), writes its output to the job's log file,
and leaves with `os._exit`: nothing the parent set up (its database connection, its atexit
handlers, buffered output) is closed or flushed twice.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from agentctl.process.run import die_with_parent

# Signals whose handlers the worker set for itself; the job sets its own.
_RESET = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE, signal.SIGCHLD)


def can_fork() -> bool:
    """Forking a warm process is safe here (Linux; macOS's system libraries are not
    fork-safe once threads ran, and Windows has no fork)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


class ForkedChild:
    """A forked job process, as the worker sees it (poll/send_signal/wait, as Popen has)."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: its code is lost
                self.returncode = 1
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"process {self.pid} still runs after {timeout} s")
            time.sleep(0.01)
        return code


def fork_child(run: Callable[[], int], *, log_path: Path) -> ForkedChild:
    """Run `run()` in a forked child whose stdout and stderr go to `log_path`; the child
    exits with what `run` returns (1 if it raised, after printing the traceback there)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()  # else the child would write the parent's pending output again
        except (OSError, ValueError):
            pass
    pid = os.fork()
    if pid:
        os.close(log)
        return ForkedChild(pid)
    code = 1
    try:  # the child: never return into the worker's loop
        os.setsid()
        die_with_parent()
        for sig in _RESET:
            signal.signal(sig, signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(devnull)
        os.close(log)
        # Whatever the parent's Python streams were (a capture, a console wrapper), the
        # child's are its own file descriptors now.
        sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
        code = run()
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
