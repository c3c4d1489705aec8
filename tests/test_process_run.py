"""Tests of agentctl.process.run: environment, output capping, and process-group control."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from agentctl.errors import ToolError
from agentctl.process import run as process_run
from agentctl.process.run import cap_output, minimal_env, run_process


def live_group_members(pgid: int) -> list[str]:
    """Return 'pid comm' of non-zombie processes in group `pgid`, from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # comm is parenthesised and may hold spaces; the fields after it are fixed.
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        state, _ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            found.append(f"{entry} {comm}")
    return found


def survivors(pgid: int, within: float = 1.0) -> list[str]:
    """Return the group's live members once they are gone or `within` seconds have passed.

    SIGKILL is delivered asynchronously: a killed process can linger in /proc for a moment.
    """
    deadline = time.monotonic() + within
    while (members := live_group_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return members


def run(command: str, tmp_path: Path, **kw) -> process_run.ProcessResult:
    kw.setdefault("timeout", 10)
    return run_process(command, cwd=tmp_path, env=minimal_env(), **kw)


def test_minimal_env_drops_secrets_and_keeps_listed_names():
    source = {"OPENAI_API_KEY": "sk-secret", "PATH": "/opt/bin", "MY_VAR": "x", "HOME": "/h"}
    env = minimal_env(["MY_VAR", "ABSENT"], source=source)
    assert "OPENAI_API_KEY" not in env
    assert env["MY_VAR"] == "x" and "ABSENT" not in env
    assert env["PATH"] == "/opt/bin" and env["HOME"] == "/h"
    assert env["LANG"] == "C.UTF-8" and "TERM" in env
    assert set(env) == {"PATH", "HOME", "LANG", "TERM", "MY_VAR"}


def test_minimal_env_defaults_when_source_is_empty():
    env = minimal_env(source={})
    assert env["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert set(env) == {"PATH", "HOME", "LANG", "TERM"}


def test_minimal_env_reads_os_environ_by_default(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-leak")
    monkeypatch.setenv("AGENTCTL_TEST_KEEP", "1")
    env = minimal_env(["AGENTCTL_TEST_KEEP"])
    assert env["AGENTCTL_TEST_KEEP"] == "1" and "OPENAI_API_KEY" not in env


def test_cap_output_short_text_is_untouched():
    assert cap_output("hello", 100) == ("hello", False)


def test_cap_output_keeps_head_and_tail_within_byte_cap():
    text = "HEAD" + "x" * 10_000 + "TAIL"
    out, truncated = cap_output(text, 1000)
    assert truncated
    assert out.startswith("HEAD") and out.endswith("TAIL")
    assert "bytes omitted ...]" in out
    assert len(out.encode()) <= 1000
    omitted = int(out.split("[... ")[1].split(" bytes")[0])
    kept = len(out.encode()) - len(f"\n[... {omitted} bytes omitted ...]\n")
    assert omitted + kept == len(text.encode())


def test_cap_output_counts_utf8_bytes_and_never_splits_a_character():
    text = "é" * 1000  # 2000 bytes
    out, truncated = cap_output(text, 500)
    assert truncated and len(out.encode()) <= 500
    assert "\ufffd" not in out
    assert cap_output("é" * 10, 20) == ("é" * 10, False)
    assert cap_output("é" * 11, 20)[1] is True


def test_run_process_reports_exit_code_and_merges_stderr(tmp_path):
    result = run("echo out; echo err >&2; exit 3", tmp_path)
    assert result.exit_code == 3
    assert "out" in result.output and "err" in result.output
    assert not result.timed_out and not result.cancelled and not result.truncated
    assert run("true", tmp_path).exit_code == 0


def test_run_process_uses_cwd_and_only_the_given_env(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-leak")
    result = run('pwd; echo "key=${OPENAI_API_KEY:-none}"', tmp_path)
    assert str(tmp_path.resolve()) in result.output
    assert "key=none" in result.output


def test_run_process_stdin_is_devnull(tmp_path):
    started = time.monotonic()
    result = run("cat; echo done", tmp_path, timeout=5)
    assert time.monotonic() - started < 2
    assert result.exit_code == 0 and result.output == "done\n"


def test_timeout_kills_the_whole_process_group(tmp_path):
    started = time.monotonic()
    result = run("sleep 30 & echo $$; sleep 30", tmp_path, timeout=0.5)
    elapsed = time.monotonic() - started
    assert result.timed_out and not result.cancelled
    assert elapsed < 2.5
    pgid = int(result.output.split()[0])  # bash's pid is the group id
    assert survivors(pgid) == []


def test_timeout_kills_a_process_ignoring_sigterm(tmp_path):
    started = time.monotonic()
    result = run("trap '' TERM; echo $$; sleep 30", tmp_path, timeout=0.3)
    assert result.timed_out and time.monotonic() - started < 2.5
    assert survivors(int(result.output.split()[0])) == []


def test_background_child_outliving_the_command_is_killed(tmp_path):
    started = time.monotonic()
    result = run("sleep 100 & echo $$; echo done", tmp_path, timeout=20)
    assert time.monotonic() - started < 2
    assert result.exit_code == 0 and "done" in result.output and not result.timed_out
    assert survivors(int(result.output.split()[0])) == []


def test_cancel_event_stops_a_running_command(tmp_path):
    cancel = threading.Event()
    timer = threading.Timer(0.3, cancel.set)
    timer.start()
    started = time.monotonic()
    try:
        result = run("echo $$; sleep 30", tmp_path, timeout=20, cancel=cancel)
    finally:
        timer.cancel()
    assert result.cancelled and not result.timed_out
    assert time.monotonic() - started < 2.5
    assert survivors(int(result.output.split()[0])) == []


def test_huge_output_stays_bounded(tmp_path):
    result = run("yes | head -c 50000000", tmp_path, timeout=30, output_cap=10_000)
    assert result.exit_code == 0 and result.truncated
    assert len(result.output.encode()) <= 10_000
    assert result.output.startswith("y\ny\n") and result.output.endswith("y\n")
    assert "bytes omitted" in result.output


def test_capped_buffer_memory_is_bounded():
    buffer = process_run.CappedBuffer(1000)
    for _ in range(10_000):
        buffer.add(b"z" * 4096)
    assert len(buffer.head) + len(buffer.tail) <= 3 * 1000 + 4096
    text, truncated = buffer.text()
    assert truncated and len(text.encode()) <= 1000


def test_output_is_decoded_with_replacement(tmp_path):
    result = run(r"printf 'ok\377\n'", tmp_path)
    assert result.output == "ok\ufffd\n"


def test_missing_cwd_raises_tool_error(tmp_path):
    with pytest.raises(ToolError):
        run_process("true", cwd=tmp_path / "absent", env=minimal_env(), timeout=5)


def test_no_zombie_is_left(tmp_path):
    result = run("echo $$", tmp_path)
    pid = int(result.output)
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def test_the_reaper_starts_on_built_in_modules_only(tmp_path):
    """The reaper starts for every command; reading its settings as JSON imported `json`,
    hence `re` and `enum`: ~17 ms of CPU per command, a fifth of a one-step job's."""
    import subprocess
    import sys

    from agentctl.process.reaper import reaper_argv
    from agentctl.process.sandbox import SECCOMP_FD

    argv = reaper_argv(["/bin/sh", "-c", "echo ran"], pgroup=True, deathsig=True,
                       rlimits={"CORE": (0, 0)}, seccomp=b"\x00" * 8, seccomp_fd=SECCOMP_FD,
                       user=None)  # fmt: skip
    assert argv[0] == (sys.executable or "/usr/bin/python3") and argv[1:3] == ["-I", "-S"]
    argv[1:1] = ["-X", "importtime"]  # the filter (bytes) is placed, not loaded: sh runs
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stdout == "ran\n", done.stderr
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "ctypes" in imported  # (prctl: the subreaper, the death signal)
    assert not imported & {"json", "re", "enum", "base64", "signal"}, sorted(imported)


REAPER_WATCHED = """
import os, runpy, sys
def hook(event, args):
    if event == "os.listdir" and str(args[0]) == "/proc":
        os.write(2, b"swept /proc\\n")
sys.addaudithook(hook)
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _reaper_sweeps(tmp_path, command: str) -> tuple[int, str]:
    """How many times the reaper, running `command`, listed /proc; and the command's output."""
    import subprocess

    from agentctl.process import reaper

    argv = reaper.reaper_argv(["/bin/sh", "-c", command], pgroup=True, deathsig=True)
    script = argv.index(reaper.__file__)
    argv[script:script] = ["-c", REAPER_WATCHED]
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stderr.count("swept /proc"), done.stdout


def test_a_command_that_leaves_nothing_behind_costs_the_reaper_no_sweep(tmp_path):
    """The reaper looked through every process of the machine (/proc) after each command,
    ~2 ms with 100 processes and more on a busier host, to find what the command left. As a
    subreaper it knows exactly when nothing is left: it has no child at all then."""
    assert _reaper_sweeps(tmp_path, "echo ran") == (0, "ran\n")


def test_what_a_command_leaves_behind_is_still_swept_and_killed(tmp_path):
    marker = f"{1000 + os.getpid() % 1000}.{int(time.time() * 1000) % 10**6:06d}"
    sweeps, out = _reaper_sweeps(tmp_path, f"setsid sleep {marker} & echo ran")
    assert sweeps >= 1 and out == "ran\n"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _running(f"sleep {marker}"):
        time.sleep(0.05)
    assert not _running(f"sleep {marker}")


def _running(command: str) -> bool:
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                if fh.read().replace(b"\0", b" ").strip() == command.encode():
                    return True
        except OSError:
            continue
    return False
