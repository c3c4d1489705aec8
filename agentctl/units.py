"""Durations ("90s", "30m", "1h30m") and sizes ("1MB", "2MiB") as recipes and policies write them."""

from __future__ import annotations

import math
import re
from typing import Any

_DURATION = re.compile(r"(?:\d+(?:\.\d+)?[dhms])+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([dhms])")
_UNIT_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}


def parse_duration(text: str | int | float) -> float:
    """Seconds in "90", "90s", "30m", "1h30m", "2d" (units largest first, each once) or a number."""
    if (
        isinstance(text, (int, float))
        and not isinstance(text, bool)
        and math.isfinite(text)
        and text >= 0
    ):
        return float(text)
    s = text.strip().lower() if isinstance(text, str) else ""
    if re.fullmatch(r"\d+(?:\.\d+)?", s):
        return float(s)
    parts = _DURATION_PART.findall(s) if _DURATION.fullmatch(s) else []
    units = [_UNIT_SECONDS[unit] for _, unit in parts]
    if not parts or units != sorted(set(units), reverse=True):
        raise ValueError(
            f'bad duration "{text}": use seconds or e.g. 90s, 30m, 1h30m, 2d '
            "(each unit once, largest first)"
        )
    return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in parts)


def to_seconds(value: Any) -> float | None:
    if value is None:
        return None
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return seconds


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmg]i?b?|b)?", re.IGNORECASE)
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "ki": 1024,
    "kib": 1024,
    "mi": 1024**2,
    "mib": 1024**2,
    "gi": 1024**3,
    "gib": 1024**3,
}


def parse_size(value: str | int) -> int:
    """Bytes in 1000000, "500KB", "1MB", "1.5MiB", "2GB" (KB/MB/GB are 1000s, KiB/MiB/GiB 1024s)."""
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    else:
        match = _SIZE.fullmatch(value.strip()) if isinstance(value, str) else None
        if match is None:
            raise ValueError(f"bad size {value!r}: use bytes or e.g. 500KB, 1MB, 2MiB")
        number, unit = match.group(1), (match.group(2) or "").lower()
        if _SIZE_UNITS[unit] == 1 and "." in number:
            raise ValueError(f"bad size {value!r}: a number of bytes is whole")
        size = int(float(number) * _SIZE_UNITS[unit])
    if size <= 0:
        raise ValueError("a size must be positive")
    return size


def format_usd(amount: float) -> str:
    """Money as people read it, true to three significant digits: $1.50, $0.004, $0.00045
    (a fixed two decimals would show $0.004 as $0.00)."""
    if amount == 0 or not math.isfinite(amount):
        return f"${amount:.2f}"
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    decimals = max(2, 2 - math.floor(math.log10(amount)))
    text = f"{amount:.{decimals}f}"
    if decimals > 2:  # no trailing zeros past the cents: $0.004, not $0.00400
        whole, _, frac = text.partition(".")
        text = f"{whole}.{frac.rstrip('0').ljust(2, '0')}"
    return f"{sign}${text}"
