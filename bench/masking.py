"""What masking secrets costs: pieces, base64 and hex forms (agentctl.secret_pieces), and
finding the `.env` values a repository's history holds (agentctl.process.git_secrets).

Masking: a `Redactor` holding `--secrets` values (half `CANARY-<hex>`, half 40-character
tokens) masks tool results of 64 KiB (the default output cap) and 1 MiB of build-log-like
text (`corpus`), with no secret in them (the common case) and with a 20-character piece of one. Printed:
the time to build the redactor (once per job), and per result the time of `mask` (best of
`--repeat`), beside the whole-value-only masking of before (the same redactor without its
piece finder) and the alternative that was measured and not chosen: one trie-shaped regex of
every window, found with a lookahead (its build time in the first row).

History: a repository of `--commits` commits of ordinary files, of which a few add or change
a `.env`, scanned once by `committed_secret_files` (best of `--repeat`).
Targets: ≤ 25 ms per 64 KiB result, ≤ 0.5 s to build the redactor, ≤ 1 s of history scan.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _common import table  # noqa: E402

from agentctl.process.git_secrets import committed_secret_files  # noqa: E402
from agentctl.redact import Redactor  # noqa: E402
from agentctl.secret_pieces import PieceFinder, secret_windows  # noqa: E402


def corpus(size: int) -> str:
    """Tool output as a build or a test run prints it: paths, line numbers, words, numbers and
    commit-like hex ids (which share an alphabet with hex secrets), no credential shapes."""
    rng = random.Random(0)
    words = [
        "the",
        "of",
        "build",
        "test",
        "passed",
        "failed",
        "module",
        "value",
        "error",
        "warning",
        "import",
        "return",
    ]
    lines = []
    total = 0
    while total < size:
        line = (
            f"src/pkg{rng.randrange(100)}/module_{rng.randrange(1000)}.py:{rng.randrange(999)}: "
            f"{' '.join(rng.choices(words, k=8))} {rng.getrandbits(64):016x} {rng.random():.6f}\n"
        )
        lines.append(line)
        total += len(line)
    return "".join(lines)[:size]


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def trie_regex(windows: set[bytes]) -> re.Pattern[str]:
    """The alternative measured against: one regex shaped as a trie of the windows, found at
    every position with a lookahead (Python's engine tries alternatives one by one)."""

    def pattern(node: dict) -> str:
        branches = [
            re.escape(c) + pattern(n) if n else re.escape(c) for c, n in sorted(node.items())
        ]
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"

    trie: dict = {}
    for window in windows:
        node = trie
        for char in window.decode("utf-8", "replace"):
            node = node.setdefault(char, {})
    return re.compile("(?=" + pattern(trie) + ")")


def bench_masking(secrets: int, repeat: int) -> list[list[str]]:
    values = [f"CANARY-{uuid.uuid4().hex}" for _ in range(secrets // 2)]
    values += [uuid.uuid4().hex + uuid.uuid4().hex[:8] for _ in range(secrets - len(values))]
    start = time.perf_counter()
    redactor = Redactor(values)
    built = time.perf_counter() - start
    whole = Redactor(values)
    whole._pieces = PieceFinder(())  # the masking of before: whole values only
    windows = secret_windows(values)
    start = time.perf_counter()
    trie = trie_regex(windows)
    trie_built = time.perf_counter() - start
    rows = [
        ["build the redactor", f"{built * 1000:.1f} ms", "", f"{trie_built * 1000:.0f} ms"],
        ["windows (8-byte runs)", str(len(windows)), "", ""],
    ]
    for size in (64 * 1024, 1 << 20):
        clean = corpus(size)
        dirty = clean[: size // 2] + values[0][5:25] + clean[size // 2 :]
        for name, text in (("no secret", clean), ("a piece", dirty)):
            ms = best(lambda t=text: redactor.mask(t), repeat) * 1000
            before = best(lambda t=text: whole.mask(t), repeat) * 1000
            regex = best(lambda t=text: list(trie.finditer(t)), repeat) * 1000
            rows.append(
                [
                    f"mask {size // 1024} KiB, {name}",
                    f"{ms:.1f} ms",
                    f"{before:.1f} ms",
                    f"{regex:.1f} ms",
                ]
            )
    return rows


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=b", "-c", "user.email=b@b", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def bench_history(commits: int, repeat: int) -> list[list[str]]:
    base = Path(tempfile.mkdtemp(prefix="agentctl-bench-history-", dir=os.environ.get("BENCH_DIR")))
    repo = base / "repo"
    try:
        repo.mkdir()
        git(repo, "init", "-q")
        # fast-import builds the history in one process: commits of 20 changed files each.
        stream = []
        for n in range(commits):
            stream.append(f"commit refs/heads/main\ncommitter b <b@b> {1700000000 + n} +0000\n")
            stream.append(f"data {len(str(n))}\n{n}\n")
            for f in range(20):
                body = f"value {n} {f}\n"
                stream.append(f"M 644 inline src/m{f % 50}/f{f}.py\ndata {len(body)}\n{body}")
            if n % (commits // 5 or 1) == 0:
                body = f"API_TOKEN=CANARY-{n}-{uuid.uuid4().hex}\n"
                stream.append(f"M 644 inline .env\ndata {len(body)}\n{body}")
            stream.append("\n")
        subprocess.run(
            ["git", "fast-import", "--quiet"],
            cwd=repo,
            input="".join(stream).encode(),
            check=True,
        )
        found: list[tuple[str, str]] = []

        def scan() -> None:
            found[:] = committed_secret_files(repo)

        seconds = best(scan, repeat)
        what = f"history scan, {commits} commits ({len(found)} .env versions)"
        return [[what, f"{seconds * 1000:.0f} ms", "", ""]]
    finally:
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--secrets", type=int, default=10)
    parser.add_argument("--commits", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}, {args.secrets} secrets")
    rows = bench_masking(args.secrets, args.repeat)
    rows += bench_history(args.commits, max(1, args.repeat // 2))
    print(table(["what", "agentctl", "whole values only", "trie regex (scan only)"], rows))


if __name__ == "__main__":
    main()
