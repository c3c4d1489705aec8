"""Issue 25's worker goals against what bench/workers.py measured: met, or missed by how much."""

from __future__ import annotations


def _verdict(value: float, goal: float, *, most: bool) -> str:
    """`met`, or by how much it is missed (x times the goal)."""
    if (value <= goal) if most else (value >= goal):
        return "met"
    return (
        f"missed ({value / goal:.1f}x the goal)" if most else f"missed ({goal / value:.1f}x short)"
    )


def goal_rows(results: dict[str, list[list]]) -> list[list]:
    """Issue 25's goals against what this run measured: [goal, backend, measured, verdict]."""
    rows = []
    for row in results.get("drain", []):
        label, kind, mode, workers, jobs_s = row[0], row[1], row[2], row[3], float(row[6])
        if label == "short" and mode == "warm" and workers == 4:
            rows.append([">= 20 short jobs/s, 4 warm workers", kind, f"{jobs_s:.1f} jobs/s",
                         _verdict(jobs_s, 20, most=False)])  # fmt: skip
    wake = results.get("wake", [])
    for kind in dict.fromkeys(r[0] for r in wake):
        p99 = max(float(r[5]) for r in wake if r[0] == kind)
        rows.append(["enqueue -> claimed p99 <= 100 ms, idle workers", kind, f"{p99:.0f} ms",
                     _verdict(p99, 100, most=True)])  # fmt: skip
    for kind, how, cpu, _ in results.get("enqueue", []):
        if "cache hit" in how or "later" in how:
            rows.append([f"enqueue <= 50 ms CPU: {how}", kind, f"{float(cpu):.0f} ms",
                         _verdict(float(cpu), 50, most=True)])  # fmt: skip
    first = results.get("first", [])
    for kind in dict.fromkeys(r[0] for r in first):
        warm = [float(r[2]) for r in first if r[0] == kind and int(r[1]) > 1]
        if warm:  # the worker's first agent job also imports litellm: said in its table
            rows.append(["first model request <= 50 ms after the claim (warm)", kind,
                         f"{max(warm):.0f} ms (worst)", _verdict(max(warm), 50, most=True)])  # fmt: skip
    return rows
