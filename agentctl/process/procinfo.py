"""Who a process is, and whether it is still alive: for job leases.

A pid alone is not an identity (pids are reused), so a holder is (host, pid, start time).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass


def _start_time(pid: int) -> str:
    # Field 22 of /proc/PID/stat is the start time in clock ticks since boot; together with the
    # pid it names one process for the life of the machine. Empty where /proc is not available.
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
    except OSError:
        return ""
    # The command name (field 2) may hold spaces and parentheses: split after its last ")".
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else ""


@dataclass(frozen=True)
class ProcessIdentity:
    host: str
    pid: int
    start: str

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}"


def host_name() -> str:
    """socket.gethostname(): on Linux the kernel's node name, which uname() gives without
    importing socket (`run --queue`'s fast path asks it on every call)."""
    if sys.platform.startswith("linux"):
        return os.uname().nodename
    import socket

    return socket.gethostname()


def current_process() -> ProcessIdentity:
    pid = os.getpid()
    return ProcessIdentity(host=host_name(), pid=pid, start=_start_time(pid))


def is_process_alive(pid: int, start: str = "") -> bool:
    """True when `pid` runs on this host and (if given) started at `start`."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    if start:
        current = _start_time(pid)
        if current and current != start:
            return False  # the pid was reused by another process
        if current == "" and not os.path.exists(f"/proc/{pid}"):
            return False
    # A zombie has exited: it holds nothing.
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
        if stat[stat.rfind(")") + 2 :].split()[:1] == ["Z"]:
            return False
    except OSError:
        pass
    return True
