"""The reaper: every tool process runs under it, so nothing it starts outlives it.

Run as a script, `python -I -S reaper.py CONFIG -- ARGV...` (see `reaper_argv`; CONFIG is
its settings in `marshal`'s format, in hex: reading JSON would import `json`, `re` and `enum`,
~17 ms of CPU for every command started), it makes
itself a child subreaper: anything ARGV starts, even a process that called `setsid` and
whose parent exited, is re-parented to the reaper instead of to init, so it stays findable
as a descendant. The reaper applies resource limits in the child, runs ARGV, and when ARGV
exits, or the reaper gets SIGTERM or SIGHUP (timeout, cancel, a closed terminal), it kills
every descendant left, sweeping /proc until none remains, then exits with ARGV's status (or
dies of the same signal). With `deathsig` it also stops when the process that started it
dies. Under bubblewrap, bwrap's pid namespace and `--die-with-parent` are a second guarantee.

Imported, it offers `descendants` and `kill_tree` to the rest of agentctl. Run as a script it
must start fast: it imports nothing outside a few built-in standard modules.
"""

from __future__ import annotations

import marshal
import os
import sys
import time

# Not `typing.TYPE_CHECKING`: the script imports no more than it needs (mypy reads the name).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
    from types import FrameType
    from typing import Any, NoReturn
else:  # the same functions and numbers; `signal` would import enum (~8 ms at every start)
    import _signal as signal

SWEEP_ROUNDS = 200
SWEEP_PAUSE_S = 0.01
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
# Python ignores some of these at start-up and the reaper others; the command gets defaults.
_RESET_SIGNALS = (
    "SIGPIPE",
    "SIGXFZ",
    "SIGXFSZ",
    "SIGINT",
    "SIGQUIT",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGTERM",
    "SIGHUP",
)
# A terminal's ^C or ^Z is for the command in it, not for the reaper.
_TERMINAL_SIGNALS = ("SIGINT", "SIGQUIT", "SIGTSTP", "SIGTTIN", "SIGTTOU")


def _proc_table() -> dict[int, tuple[int, str]]:
    """Return {pid: (ppid, state)} of every process visible in /proc."""
    table: dict[int, tuple[int, str]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return table
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read().decode("ascii", "replace")
        except OSError:
            continue
        # The command name is parenthesised and may hold anything: split after its last ")".
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) >= 2:
            table[int(entry)] = (int(fields[1]), fields[0])
    return table


def descendants(root: int) -> list[int]:
    """Return the live (not zombie) descendants of `root`, found through /proc."""
    table = _proc_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _state) in table.items():
        children.setdefault(ppid, []).append(pid)
    found: list[int] = []
    stack = list(children.get(root, ()))
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, ()))
        if table[pid][1] not in ("Z", "X"):
            found.append(pid)
    return found


def _reap_any() -> list[tuple[int, int]]:
    """Reap every child that has exited; return [(pid, wait status)]."""
    reaped: list[tuple[int, int]] = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped.append((pid, status))


def _childless() -> bool:
    """Whether this process has no child at all, running or exited (nothing is reaped): then
    it has no descendant either (each is below a child), and a sweep of /proc, ~2 ms per 100
    processes on the machine, would find none. (As a subreaper, what its command left behind
    is re-parented to it: its child.)"""
    if not hasattr(os, "waitid"):  # (not every platform has it: sweep, as before)
        return False
    try:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return False


def kill_tree(root: int, sig: int = signal.SIGKILL, *, reap: bool = False) -> list[int]:
    """Send `sig` to every descendant of `root`; return those still alive afterwards.

    With SIGKILL the sweep repeats until none is left (a process forked meanwhile is found in
    the next round). `reap` is for the reaper, whose children the orphans become.
    """
    for _ in range(SWEEP_ROUNDS if sig == signal.SIGKILL else 1):
        pids = descendants(root)
        if not pids:
            return []
        for pid in pids:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        if sig != signal.SIGKILL:
            return pids
        time.sleep(SWEEP_PAUSE_S)
        if reap:
            _reap_any()
    return descendants(root)


class _Stop(Exception):
    pass


def _on_stop(signum: int, frame: FrameType | None) -> NoReturn:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    raise _Stop


def _prctl(option: int, value: int) -> bool:
    import ctypes

    try:
        done: int = ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
        return done == 0
    except (OSError, AttributeError):
        return False


def _exec_child(argv: list[str], config: dict[str, Any]) -> None:
    """In the forked child: its own group if asked, default signals, limits, then exec."""
    try:
        if config.get("pgroup"):
            os.setpgid(0, 0)
        for name in _RESET_SIGNALS:
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), signal.SIG_DFL)
        if config.get("seccomp"):
            _place_seccomp(config["seccomp"], int(config["seccomp_fd"]))
        import resource

        for name, (soft, hard) in (config.get("rlimits") or {}).items():
            res = getattr(resource, f"RLIMIT_{name}", None)
            if res is None:
                continue
            limit = resource.getrlimit(res)[1]
            if limit != resource.RLIM_INFINITY:  # never ask for more than is allowed
                soft, hard = min(soft, limit), min(hard, limit)
            try:
                resource.setrlimit(res, (soft, hard))
            except (ValueError, OSError):
                pass
        if config.get("user"):
            # Root runs the command as the workspace's owner: no supplementary groups, then
            # the gid, then the uid (after which nothing could change them back).
            uid, gid = config["user"]
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
        os.execvp(argv[0], argv)
    except BaseException as exc:
        os.write(2, f"agentctl: cannot run {argv[0] if argv else '?'}: {exc}\n".encode())
    os._exit(127)


def _place_seccomp(program: bytes, fd: int) -> None:
    """Put the seccomp filter where bwrap's `--seccomp FD` reads it: a pipe at `fd`."""
    read_end, write_end = os.pipe()
    os.write(write_end, program)  # a few hundred bytes: far below a pipe's buffer
    os.close(write_end)
    if read_end != fd:
        os.dup2(read_end, fd, inheritable=True)
        os.close(read_end)
    else:
        os.set_inheritable(fd, True)


def _exit_like(status: int) -> None:
    """Leave with the child's exit status, or die of the signal that killed it."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            import resource

            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        except (ImportError, ValueError, OSError):
            pass
        if sig != signal.SIGKILL:
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        time.sleep(1)
        os._exit(128 + sig)
    os._exit(os.waitstatus_to_exitcode(status))


def reaper_main(args: list[str]) -> None:
    """`reaper.py CONFIG -- ARGV...`: run ARGV, then kill whatever it left behind."""
    config = marshal.loads(bytes.fromhex(args[0]))
    argv = args[2:] if len(args) > 1 and args[1] == "--" else args[1:]
    grace = float(config.get("grace", 0.5))
    for name in _TERMINAL_SIGNALS:
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_stop)
    signal.signal(signal.SIGHUP, _on_stop)
    me = os.getpid()
    child = 0
    status = None
    try:
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
        if config.get("deathsig"):
            _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
            if os.getppid() != config.get("parent", os.getppid()):
                raise _Stop  # the parent is already gone: run nothing
        child = os.fork()
        if child == 0:
            _exec_child(argv, config)
        if config.get("pgroup"):
            try:
                os.setpgid(child, child)
            except OSError:
                pass
        while status is None:
            pid, st = os.waitpid(-1, 0)  # also reaps orphans re-parented to us
            if pid == child:
                status = st
    except _Stop:
        # Polite first: SIGTERM to the command's group and every descendant; SIGKILL follows.
        if child and config.get("pgroup"):
            try:
                os.killpg(child, signal.SIGTERM)
            except OSError:
                pass
        kill_tree(me, signal.SIGTERM)
        end = time.monotonic() + grace
        while child and status is None and time.monotonic() < end:
            for pid, st in _reap_any():
                if pid == child:
                    status = st
            time.sleep(0.01)
    if not _childless():
        kill_tree(me, signal.SIGKILL, reap=True)
    if status is None and child:
        try:
            status = os.waitpid(child, 0)[1]
        except ChildProcessError:
            pass
    _reap_any()
    _exit_like(signal.SIGKILL if status is None else status)  # raw status: killed by SIGKILL


def reaper_argv(
    argv: list[str],
    *,
    pgroup: bool,
    deathsig: bool,
    rlimits: dict[str, tuple[int, int]] | None = None,
    grace: float = 0.5,
    seccomp: bytes | None = None,
    seccomp_fd: int = 200,
    user: tuple[int, int] | None = None,
) -> list[str]:
    """Return the argv that runs `argv` under the reaper.

    `pgroup`: the command gets its own process group (not for a terminal session, whose
    foreground group must stay the reaper's). `deathsig`: stop when the starting thread's
    process dies (not for sessions that outlive the thread that started them).
    `rlimits`: {"FSIZE": (soft, hard), ...}, names of `resource.RLIMIT_*` without the prefix.
    `seccomp`: a compiled filter the command (bwrap) can read at descriptor `seccomp_fd`.
    `user`: (uid, gid) the command runs as (root starting a sandbox in a user's workspace);
    if they cannot be taken, the command does not run.
    """
    config = {
        "parent": os.getpid(),
        "pgroup": pgroup,
        "deathsig": deathsig,
        "rlimits": {k: list(v) for k, v in (rlimits or {}).items()},
        "grace": grace,
    }
    if user is not None:
        config["user"] = list(user)
    if seccomp is not None:
        config["seccomp"] = bytes(seccomp)
        config["seccomp_fd"] = seccomp_fd
    python = sys.executable or "/usr/bin/python3"
    # (the same interpreter reads it: marshal's format is that of this Python version)
    encoded = marshal.dumps(config).hex()
    return [python, "-I", "-S", os.path.abspath(__file__), encoded, "--", *argv]


if __name__ == "__main__":
    reaper_main(sys.argv[1:])
