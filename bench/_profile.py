"""Where a warm worker's job child spends its CPU: the pstats files `_profiled_worker.py`
wrote (one per job and per thread a job started), merged, as table rows per job; the same for
the worker's own loop, and the CPU of the processes each job started."""

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


def profile_rows(folder: Path, top: int = 25) -> tuple[int, float, list[list[str]]]:
    """(jobs, CPU ms per job, rows): the `top` entries by cumulative CPU time, as
    [function, calls per job, own ms per job, cumulative ms per job]."""
    files = sorted(folder.glob("*.pstats"))  # (a thread still running at exit: no file)
    if not files:
        return 0, 0.0, []
    jobs = len({f.stem.split("-")[0] for f in files})  # <pid>.pstats, <pid>-<thread>.pstats
    return jobs, *_rows(files, jobs, top)


def parent_rows(folder: Path, jobs: int, top: int = 25) -> tuple[float, list[list[str]]]:
    """The worker's main thread (parent-<pid>.prof), per job of the `jobs` it ran: (CPU ms
    per job, rows as `profile_rows` gives them)."""
    files = sorted(folder.glob("parent-*.prof"))
    return _rows(files, jobs, top) if files and jobs else (0.0, [])


def step_processes_ms(folder: Path) -> float:
    """CPU ms per job of the processes the job started (reaper, bubblewrap, shell)."""
    files = sorted(folder.glob("*.cpu"))
    return sum(float(f.read_text()) for f in files) / len(files) * 1000 if files else 0.0


def _rows(files: list[Path], jobs: int, top: int) -> tuple[float, list[list[str]]]:
    stats = pstats.Stats(*map(str, files))
    entries = stats.stats  # type: ignore[attr-defined]  # {key: (cc, calls, own, cumulative, callers)}
    ordered = sorted(entries.items(), key=lambda item: item[1][3], reverse=True)
    rows = []
    for key, (_, calls, own, cumulative, _) in ordered[:top]:
        rows.append([_where(key), f"{calls / jobs:g}", f"{own / jobs * 1000:.1f}",
                     f"{cumulative / jobs * 1000:.1f}"])  # fmt: skip
    total = stats.total_tt / jobs * 1000  # type: ignore[attr-defined]
    return total, rows
