"""Where a warm worker's job child spends its CPU: the pstats files `_profiled_worker.py`
wrote (one per job and per thread a job started), merged, as table rows per job."""

from __future__ import annotations

import pstats
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _where(key: tuple[str, int, str]) -> str:
    """`module.py:line(function)`, with agentctl's and the venv's paths shortened."""
    path, line, name = key
    if path == "~":
        return name
    for prefix in (str(ROOT) + "/", "site-packages/", "lib/python3."):
        if prefix in path:
            path = path.split(prefix, 1)[1]
            break
    return f"{path}:{line}({name})"


def profile_rows(folder: Path, top: int = 25) -> tuple[int, float, list[list]]:
    """(jobs, CPU ms per job, rows): the `top` entries by cumulative CPU time, as
    [function, calls per job, own ms per job, cumulative ms per job]."""
    files = sorted(folder.glob("*.pstats"))  # (a thread still running at exit: no file)
    if not files:
        return 0, 0.0, []
    stats = pstats.Stats(*map(str, files))
    jobs = len({f.stem.split("-")[0] for f in files})  # <pid>.pstats, <pid>-<thread>.pstats
    entries = stats.stats  # type: ignore[attr-defined]  # {key: (cc, calls, own, cumulative, callers)}
    ordered = sorted(entries.items(), key=lambda item: item[1][3], reverse=True)
    rows = []
    for key, (_, calls, own, cumulative, _) in ordered[:top]:
        rows.append([_where(key), f"{calls / jobs:g}", f"{own / jobs * 1000:.1f}",
                     f"{cumulative / jobs * 1000:.1f}"])  # fmt: skip
    total = stats.total_tt / jobs * 1000  # type: ignore[attr-defined]
    return jobs, total, rows
