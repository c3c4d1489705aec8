"""How times are written: one human form with a zone, ISO 8601 UTC in JSON, and ages.

Every place a person reads a time (status, log, approval details, jobs) uses `human_time`;
every JSON document uses `iso_time`. Stored times are epoch seconds.
"""

from __future__ import annotations

from datetime import UTC, datetime


def iso_time(ts: float | None) -> str | None:
    """ISO 8601 in UTC with milliseconds, e.g. 2026-01-31T09:15:02.120Z."""
    if ts is None:
        return None
    return (
        datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def parse_time(value: str | float | None) -> float | None:
    """Epoch seconds from an epoch number or an ISO 8601 string (as `iso_time` writes)."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return float(value)
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def human_time(value: str | float | None) -> str:
    """Local time with its zone, e.g. `2026-01-31 10:15:02 CET` (or `+05:30` where the zone
    has no short name); empty for no time."""
    ts = parse_time(value)
    if ts is None:
        return ""
    moment = datetime.fromtimestamp(ts).astimezone()
    zone = moment.strftime("%Z")
    if not zone.isalpha():
        zone = moment.strftime("%z")
        zone = f"{zone[:3]}:{zone[3:]}"
    return f"{moment:%Y-%m-%d %H:%M:%S} {zone}"


def human_age(seconds: float) -> str:
    """A short age as `kubectl get` writes it: 42s, 5m, 3h, 2d."""
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"
