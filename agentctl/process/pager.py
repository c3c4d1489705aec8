"""Running the person's pager (`$PAGER`, `less -R` by default) with text on its stdin.

The command is a shell command line, as git and man run it (`PAGER='less -S'`). `less` gets
`LESS=FRX` when the person has not set `LESS`: it quits at once on text that fits the screen,
keeps colours and leaves the text on screen. While the pager runs, Ctrl-C is the pager's.
"""

from __future__ import annotations

import os
import signal
import subprocess


def run_pager(command: str, text: str) -> bool:
    """Show `text` through `command`; False when the pager cannot be started (the caller
    prints the text itself)."""
    env = dict(os.environ)
    env.setdefault("LESS", "FRX")
    env.setdefault("LV", "-c")
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        try:
            pager = subprocess.Popen(command, shell=True, stdin=subprocess.PIPE, env=env)
        except OSError:
            return False
        assert pager.stdin is not None
        try:
            pager.stdin.write(text.encode("utf-8", "surrogateescape"))
            pager.stdin.close()
        except BrokenPipeError:  # the person quit before reading it all
            pass
        # A shell that could not find the pager exits 127 before reading: print instead.
        return pager.wait() != 127
    finally:
        signal.signal(signal.SIGINT, previous)
