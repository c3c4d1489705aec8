"""A real terminal emulator for tests: agentctl in a tmux pane of a given size.

pexpect (tests/test_terminal.py) sees the bytes a program writes; tmux also draws them, so a
test can read what a person sees at the end: the screen and the scrollback above it, after
the live view has erased and redrawn itself (`screen()`), at 120 or 60 columns. Each
terminal has its own tmux server (`-L`), stopped by `close()`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

WAIT = 60.0
TMUX = shutil.which("tmux")


class TmuxTerminal:
    """`python -m agentctl ARGS` in a detached tmux pane of `width` x `height` cells."""

    def __init__(
        self, args: list[str], env: dict[str, str], cwd: Path, *, width: int, height: int = 40
    ):
        assert TMUX, "tmux is not installed"
        self.socket = f"agentctl-test-{uuid.uuid4().hex[:12]}"
        config = cwd / f".{self.socket}.conf"
        # The pane stays after agentctl exits, so its last screen and exit code can be read.
        config.write_text(
            "set -g remain-on-exit on\n"
            "set -g history-limit 20000\n"
            'set -g default-terminal "screen-256color"\n'
        )
        env = {**env, "TERM": "screen-256color", "COLUMNS": "", "LINES": ""}
        # The exit code goes to a file: tmux may leave a pane's process a zombie for a while
        # (its SIGCHLD comes late on a loaded machine), so its own status is not waited for.
        self.status = cwd / f".{self.socket}.status"
        command = ["sh", "-c", '"$@"; echo $? > "$0"', str(self.status), "env"]
        command += [f"{k}={v}" for k, v in env.items()]
        command += [sys.executable, "-m", "agentctl", *args]
        self._tmux("-f", str(config), "new-session", "-d", "-s", "t", "-x", str(width),
                   "-y", str(height), "-c", str(cwd), *command)  # fmt: skip

    def _tmux(self, *args: str) -> str:
        done = subprocess.run(
            [TMUX or "tmux", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def screen(self, *, joined: bool = True) -> str:
        """The scrollback and the screen as text; `joined`: lines the terminal wrapped are
        put back together (what was printed), else each row as drawn."""
        return self._tmux("capture-pane", "-p", *(["-J"] if joined else []), "-S", "-", "-t", "t")

    def send(self, *keys: str) -> None:
        """Keys as tmux names them: `a`, `Enter`, `C-c`."""
        self._tmux("send-keys", "-t", "t", *keys)

    def wait_for(self, pattern: str, timeout: float = WAIT) -> re.Match:
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.screen())
            if found:
                return found
            if self.exit_code() is not None and not re.search(pattern, self.screen()):
                raise AssertionError(f"exited before {pattern!r}:\n{self.screen()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} never showed; the screen:\n{self.screen()}")
            time.sleep(0.1)

    def exit_code(self) -> int | None:
        """agentctl's exit code once it has exited, else None."""
        try:
            status = self.status.read_text().strip()
        except FileNotFoundError:
            return None
        return int(status) if status else None

    def finish(self, timeout: float = WAIT) -> int:
        """Wait for agentctl to exit; its exit code."""
        deadline = time.monotonic() + timeout
        while (code := self.exit_code()) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"still running; the screen:\n{self.screen()}")
            time.sleep(0.1)
        return code

    def close(self) -> None:
        subprocess.run(
            [TMUX or "tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=30
        )
