"""How a runner meets signals: SIGTERM ends the job as interrupted (the run's `finally`
still writes its end), and a second Ctrl-C while that end is written is ignored."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Interrupt(BaseException):
    """SIGTERM: stop like Ctrl-C, leaving the job resumable."""


def install_sigterm() -> Any:
    """SIGTERM raises Interrupt in the main thread; returns the handler it replaced."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum: int, frame: Any) -> None:
        raise Interrupt()

    return signal.signal(signal.SIGTERM, handler)


@contextmanager
def signals_ignored() -> Iterator[None]:
    """Ctrl-C (SIGINT) is ignored inside the block (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def restore_sigterm(previous: Any) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)
