"""Running commands for tools: a minimal environment, a timeout, and capped output.

This module is the only place (with `agentctl.process.sandbox`, `agentctl.process.reaper` and
`agentctl.tools.interactive`) that starts processes. A command runs in its own session, so its whole process group can be stopped on timeout or cancel, and
anything it left running in the background is killed when it exits. Output is read while it
streams and only a bounded head and tail are kept, so a command printing gigabytes costs
bounded memory.

Confinement is in `agentctl.process.confine` (bubblewrap: read-only system, writable workspace, no
network unless allowed, the job's files hidden). Every command runs under
`agentctl.process.reaper`, which applies resource limits (file size, no core dumps, CPU time) and
kills the whole process tree, including children that started their own session, when the
command ends, times out or is cancelled. Unconfined (`sandbox=None`, the default) a
command runs with the agent's own user rights.
"""

from __future__ import annotations

import math
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from agentctl.errors import ToolError
from agentctl.process import reaper
from agentctl.process.confine import Sandbox

# Default cap on what one process (and so one tool call) may return: head and tail are kept
# around a marker. Tools take it from here (agentctl.tools.base).
DEFAULT_OUTPUT_CAP = 64 * 1024

# The variables every command gets, with the value used when the caller's environment
# lacks one. Everything else must be asked for by name, so API keys never leak by default.
BASE_ENV_DEFAULTS: dict[str, str] = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/tmp",
    "LANG": "C.UTF-8",
    "TERM": "dumb",
}

# How long a process group gets between SIGTERM and SIGKILL.
KILL_GRACE_S = 0.5
# How often cancel, the deadline and the main process are checked while output streams.
POLL_INTERVAL_S = 0.1
# After the group is killed, how long to keep reading what is left in the pipe; a process
# that escaped the group (setsid) could otherwise hold it open forever.
DRAIN_LIMIT_S = 0.5
READ_CHUNK = 64 * 1024
# Limits of every tool process: files it writes, core dumps, CPU seconds beyond the timeout.
FILE_SIZE_LIMIT = 1 << 30
CPU_SLACK_S = 5
# Processes a command may have at once (RLIMIT_NPROC: counted per user, and not enforced
# by the kernel for root, whose forks the pid namespace and the reaper still bound in time).
PROCESS_LIMIT = 2048
# How long the reaper may take to stop a tree before it is killed itself.
REAPER_STOP_S = 3.0


def absolute_path(value: str) -> str:
    """`value` (a PATH) without relative and empty entries, or the default PATH if none is
    left. A relative entry (`node_modules/.bin`, `.`, and an empty one, which means `.`) is
    looked up from the working folder, the workspace: `cat` would run the repository's own."""
    kept = [entry for entry in value.split(os.pathsep) if os.path.isabs(entry)]
    return os.pathsep.join(dict.fromkeys(kept)) or BASE_ENV_DEFAULTS["PATH"]


def with_absolute_path(env: Mapping[str, str]) -> dict[str, str]:
    """A copy of `env` whose PATH holds absolute entries only (see `absolute_path`)."""
    out = dict(env)
    if "PATH" in out:
        out["PATH"] = absolute_path(out["PATH"])
    return out


def minimal_env(
    names: Iterable[str] = (), source: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Return PATH (absolute entries only), HOME, LANG, TERM plus the named variables present
    in `source`."""
    src = os.environ if source is None else source
    env = {key: src.get(key) or default for key, default in BASE_ENV_DEFAULTS.items()}
    for name in names:
        if name in src:
            env[name] = src[name]
    return with_absolute_path(env)


def _marker(omitted: int) -> bytes:
    return f"\n[... {omitted} bytes omitted ...]\n".encode()


def _cut_head(data: bytes, size: int) -> bytes:
    """Return at most `size` leading bytes, not splitting a UTF-8 character."""
    if size >= len(data):
        return data
    end = max(size, 0)
    # Continuation bytes look like 0b10xxxxxx; back off to the start of that character.
    while end > 0 and (data[end] & 0xC0) == 0x80:
        end -= 1
    return data[:end]


def _cut_tail(data: bytes, size: int) -> bytes:
    """Return at most `size` trailing bytes, not splitting a UTF-8 character."""
    if size >= len(data):
        return data
    start = len(data) - max(size, 0)
    while start < len(data) and (data[start] & 0xC0) == 0x80:
        start += 1
    return data[start:]


def join_capped(
    head: bytes, tail: bytes, total: int, cap: int, encoding: str = "utf-8"
) -> tuple[str, bool]:
    """Join a stream's kept head and tail into text of at most `cap` bytes.

    `head` is a prefix and `tail` a suffix of a stream of `total` bytes; when
    len(head) + len(tail) == total they are the whole stream. Cuts respect UTF-8
    character boundaries; other encodings may show a replacement character at a cut.
    """
    if total <= cap and len(head) + len(tail) == total:
        return (head + tail).decode(encoding, errors="replace"), False
    # The marker is part of the budget, sized for the largest count it could show.
    budget = max(cap - len(_marker(total)), 0)
    kept_head = _cut_head(head, budget // 2)
    kept_tail = _cut_tail(tail, budget - len(kept_head))
    omitted = total - len(kept_head) - len(kept_tail)
    marker = _marker(omitted).decode()
    return (
        kept_head.decode(encoding, errors="replace")
        + marker
        + kept_tail.decode(encoding, errors="replace"),
        True,
    )


def cap_output(text: str, cap: int) -> tuple[str, bool]:
    """Keep the head and tail of `text` within `cap` UTF-8 bytes; return (text, truncated)."""
    data = text.encode("utf-8", errors="replace")
    if len(data) <= cap:
        return text, False
    half = cap // 2
    return join_capped(data[:half], data[half:], len(data), cap)


class CappedBuffer:
    """Collects a byte stream keeping only its head and a bounded tail."""

    def __init__(self, cap: int):
        self.cap = max(cap, 0)
        self.head_limit = self.cap // 2
        self.tail_limit = self.cap - self.head_limit
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            # Trim only once the tail is twice its limit, so trimming stays amortised O(1).
            if len(self.tail) > 2 * self.tail_limit:
                del self.tail[: len(self.tail) - self.tail_limit]

    def text(self, encoding: str = "utf-8") -> tuple[str, bool]:
        return join_capped(bytes(self.head), bytes(self.tail), self.total, self.cap, encoding)


@dataclass
class ProcessResult:
    exit_code: int | None  # negative: killed by that signal (as in subprocess)
    output: str  # stdout and stderr merged, capped
    truncated: bool
    timed_out: bool
    cancelled: bool
    duration_s: float
    confinement: str = "none"  # "bwrap" | "none": how the command was confined


def kill_process_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    """Send `sig` to a process group; a group that is already gone is fine."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _has_exited(pid: int) -> bool:
    """Tell whether the child exited, without reaping it.

    Leaving it a zombie keeps its pid, which is also the group id, from being reused while
    the group is still signalled.
    """
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


class _Reader:
    """Non-blocking reads of the merged output pipe into a CappedBuffer.

    Where the kernel offers a pidfd, it is watched too, so the main process exiting wakes
    the reader at once instead of at the next poll.
    """

    def __init__(self, pipe: IO[bytes], buffer: CappedBuffer, pid: int):
        self.fd = pipe.fileno()
        os.set_blocking(self.fd, False)
        self.buffer = buffer
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.fd, selectors.EVENT_READ)
        self.eof = False
        self.pidfd: int | None = None
        try:
            self.pidfd = os.pidfd_open(pid)
            self.selector.register(self.pidfd, selectors.EVENT_READ)
        except (AttributeError, OSError):
            self.pidfd = None

    def read_for(self, wait_s: float) -> None:
        """Read what arrives within `wait_s` seconds, returning early on EOF or exit."""
        if not self.selector.get_map():
            time.sleep(min(wait_s, 0.01))
            return
        for key, _ in self.selector.select(wait_s):
            if key.fd == self.fd:
                self._read_available()
            else:
                # The process exited; stop watching so later calls do not spin on it.
                self.selector.unregister(key.fd)

    def _read_available(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, READ_CHUNK)
            except BlockingIOError:
                return
            if not chunk:
                self.eof = True
                self.selector.unregister(self.fd)
                return
            self.buffer.add(chunk)

    def drain(self, limit_s: float) -> None:
        deadline = time.monotonic() + limit_s
        while not self.eof and (left := deadline - time.monotonic()) > 0:
            self.read_for(min(left, POLL_INTERVAL_S))

    def close(self) -> None:
        self.selector.close()
        if self.pidfd is not None:
            os.close(self.pidfd)


def process_limits(timeout: float | None) -> dict[str, tuple[int, int]]:
    """The rlimits of a tool process (names of `resource.RLIMIT_*` without the prefix)."""
    limits = {
        "FSIZE": (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT),
        "CORE": (0, 0),
        "NPROC": (PROCESS_LIMIT, PROCESS_LIMIT),
    }
    if timeout is not None and math.isfinite(timeout):
        cpu = math.ceil(max(timeout, 0)) + CPU_SLACK_S
        limits["CPU"] = (cpu, cpu + CPU_SLACK_S)  # SIGXCPU first, SIGKILL a little later
    return limits


def run_process(
    command: str,
    *,
    cwd: Path,
    env: dict[str, str],
    timeout: float,
    cancel: threading.Event | None = None,
    output_cap: int = DEFAULT_OUTPUT_CAP,
    sandbox: Sandbox | None = None,
) -> ProcessResult:
    """Run `command` in a shell under the reaper; see the module docstring.

    `sandbox` (from `resolve_sandbox`) None or without a usable confinement runs unconfined.
    Raises ToolError when the command cannot be started (e.g. `cwd` is missing).
    """
    started = time.monotonic()
    deadline = started + max(timeout, 0)
    env = with_absolute_path(env)
    sandbox = sandbox or Sandbox()
    argv = sandbox.argv(
        command, workspace=cwd, env=env, rlimits=process_limits(timeout), grace=KILL_GRACE_S
    )
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        raise ToolError(f"cannot start command in {cwd}: {exc.strerror or exc}") from exc
    assert proc.stdout is not None  # stdout=PIPE
    buffer = CappedBuffer(output_cap)
    reader = _Reader(proc.stdout, buffer, proc.pid)
    timed_out = cancelled = False
    try:
        timed_out, cancelled = _wait(proc, reader, deadline, cancel)
    finally:
        exit_code = _end(proc, reader)
    output, truncated = buffer.text()
    return ProcessResult(
        exit_code=exit_code,
        output=output,
        truncated=truncated,
        timed_out=timed_out,
        cancelled=cancelled,
        duration_s=time.monotonic() - started,
        confinement=sandbox.kind,
    )


def _wait(
    proc: subprocess.Popen[bytes],
    reader: _Reader,
    deadline: float,
    cancel: threading.Event | None,
) -> tuple[bool, bool]:
    """Read output until the reaper exits, the deadline passes or `cancel` is set, then
    have the reaper stop the tree; return (timed out, cancelled)."""
    timed_out = cancelled = False
    while not _has_exited(proc.pid):
        if cancel is not None and cancel.is_set():
            cancelled = True
            break
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        reader.read_for(min(left, POLL_INTERVAL_S))
    if timed_out or cancelled:
        # The reaper stops the whole tree: SIGTERM, a grace period, then SIGKILL.
        _signal(proc.pid, signal.SIGTERM)
        stop_end = time.monotonic() + REAPER_STOP_S
        while not _has_exited(proc.pid) and time.monotonic() < stop_end:
            reader.read_for(POLL_INTERVAL_S)
    return timed_out, cancelled


def _end(proc: subprocess.Popen[bytes], reader: _Reader) -> int:
    """Make sure nothing of the command is left, read what remains; return its exit code."""
    if not _has_exited(proc.pid):
        # The reaper did not stop in time (or this thread was interrupted): do its job.
        reaper.kill_tree(proc.pid, signal.SIGKILL)
    kill_process_group(proc.pid, signal.SIGKILL)  # start_new_session: the reaper leads it
    reader.drain(DRAIN_LIMIT_S)
    reader.close()
    if proc.stdout is not None:
        proc.stdout.close()
    return proc.wait()


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def spawn_detached(argv: list[str], *, env: Mapping[str, str], log_path: Path) -> int:
    """Start `argv` in a new session that outlives this process; return its pid.

    For `run --detach`: the runner keeps going after the terminal closes. Its stdout and
    stderr go to `log_path`; the job's own history is in the database either way.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            argv,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    return process.pid


def die_with_parent() -> None:  # pragma: no cover - runs in the child
    # Linux: the kernel SIGKILLs the child when the worker that started it dies, so a
    # worker's runners never outlive it unsupervised (their leases then expire).
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def spawn_supervised(
    argv: list[str], *, env: Mapping[str, str], log_path: Path
) -> subprocess.Popen[bytes]:
    """Start `argv` as a child that dies with this process; output to `log_path`.

    For `agentctl worker`: each job runs in a process of its own, in a session of its own
    (a Ctrl-C at the worker's terminal reaches only the worker, which decides what to pass on).
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            argv,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            preexec_fn=die_with_parent,
        )


__all__ = [
    "CappedBuffer",
    "ProcessResult",
    "absolute_path",
    "cap_output",
    "kill_process_group",
    "minimal_env",
    "process_limits",
    "run_process",
    "spawn_detached",
    "spawn_supervised",
    "with_absolute_path",
]
