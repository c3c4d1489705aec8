"""A queue's limits in words and in JSON (`agentctl queue`)."""

from __future__ import annotations

from typing import Any

from agentctl.store import QueueLimit
from agentctl.ui.words import plural


def _window(seconds: float) -> str:
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def queue_limit_line(limit: QueueLimit) -> str:
    """`nightly: at most 4 running (2 now); at most 10 starts per 1m (3 in the last 1m)`."""
    parts = []
    if limit.max_running is not None:
        parts.append(f"at most {limit.max_running} running ({limit.running} now)")
    if limit.max_starts is not None and limit.per_seconds:
        window = _window(limit.per_seconds)
        parts.append(
            f"at most {plural(limit.max_starts, 'start')} per {window}"
            f" ({limit.started} in the last {window})"
        )
    return f"{limit.queue}: {'; '.join(parts) if parts else 'no limits'}"


def queue_limit_object(limit: QueueLimit) -> dict[str, Any]:
    return {
        "queue": limit.queue,
        "max_running": limit.max_running,
        "max_starts": limit.max_starts,
        "per_seconds": limit.per_seconds,
        "running": limit.running,
        "started": limit.started,
    }
