"""Shared pieces of the benchmarks: a cheap scripted model, recipes, job creation, stats.

The model here is an in-process stand-in (no network, no provider): it answers with a tool
call `turns` times, then with a final text (or raises KeyboardInterrupt, which the runner
turns into an `interrupted` job). Unlike tests/scripted.py it does not deep-copy the
conversation on every call, so its own cost stays constant per turn and out of the figures.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _table import table  # noqa: E402,F401  (re-exported: the benchmarks import it from here)

from agentctl.engine.jobs import create_job  # noqa: E402
from agentctl.engine.run import RunnerDeps  # noqa: E402
from agentctl.models.calls import ModelReply  # noqa: E402
from agentctl.recipe.load import load_recipe_text  # noqa: E402
from agentctl.recipe.params import parse_params  # noqa: E402
from agentctl.store.sqlite import SQLiteStore  # noqa: E402


def agent_recipe(tools: list[str], name: str = "bench", extra_steps: str = "") -> str:
    """One agent step using `tools`, with no limits: the defaults are unlimited, but for
    max_repeats (3), which the benchmarks' identical actions would reach."""
    return (
        "version: 1\n"
        f"name: {name}\n"
        "limits: {max_repeats: 1000000000}\n"
        "steps:\n"
        "  - id: work\n"
        "    agent:\n"
        "      instructions: Do the benchmark.\n"
        f"      tools: [{', '.join(tools)}]\n" + extra_steps
    )


class BenchModel:
    """Asks for `call` (name, args) `turns` times, then answers `final` (or interrupts).

    `first_call_at` / `first_call_cpu` are perf_counter() / process_time() at the first
    complete() call of this instance.
    """

    def __init__(
        self,
        turns: int,
        call: tuple[str, dict[str, Any]] | None,
        final: str | None = "done",
        interrupt_after: bool = False,
    ):
        self.turns = turns
        self.call = call
        self.final = final
        self.interrupt_after = interrupt_after
        self.calls = 0
        self.mask: Any = None  # set by the runner
        self.spent: dict[str, float] = {}
        self.first_call_at: float | None = None
        self.first_call_cpu: float | None = None
        if call is not None:
            self._arguments = json.dumps(call[1])

    def complete(
        self, role, messages, tools, *, call_index, on_text=None, bounds=None
    ) -> ModelReply:
        if self.first_call_at is None:
            self.first_call_at = time.perf_counter()
            self.first_call_cpu = time.process_time()
        self.calls += 1
        if self.calls > self.turns:
            if self.interrupt_after:
                raise KeyboardInterrupt()
            message = {"role": "assistant", "content": self.final}
        else:
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"call_{call_index}",
                        "type": "function",
                        "function": {"name": self.call[0], "arguments": self._arguments},
                    }
                ],
            }
        return ModelReply(
            message=message,
            model="bench/scripted",
            role=role,
            input_tokens=10,
            output_tokens=5,
            cost_usd=0.0,
            latency_ms=0.0,
            attempts=[],
        )

    def close(self) -> None:
        pass

    def estimate_call_cost(self, role, messages) -> float:
        return 0.0


def make_job(store: SQLiteStore, workspace: Path, text: str) -> str:
    loaded = load_recipe_text(text, "recipe.yaml", base_dir=workspace)
    return create_job(
        store, loaded, params=parse_params(loaded.recipe, []), workspace=workspace, options={}
    )


def deps(store: SQLiteStore, model: Any) -> RunnerDeps:
    """Production defaults (lease ttl, heartbeat interval); only the model is replaced."""
    return RunnerDeps(
        store=store, model_factory=lambda recipe, options: model, env={"PATH": "/usr/bin:/bin"}
    )


def checkpoint(store_or_conn: Any) -> None:
    conn = getattr(store_or_conn, "conn", store_or_conn)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()


def median(values: list[float]) -> float:
    return statistics.median(values)


def fs_type(path: Path) -> str:
    """The file system type holding `path` (from /proc/mounts; '?' if unknown)."""
    try:
        best, kind = "", "?"
        target = str(path.resolve())
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                mount, fstype = parts[1], parts[2]
                if (target == mount or target.startswith(mount.rstrip("/") + "/")) and len(
                    mount
                ) > len(best):
                    best, kind = mount, fstype
        return kind
    except OSError:
        return "?"
