"""Garbage collection while agentctl starts.

Importing litellm creates about 400,000 long-lived objects (every provider's config, the
OpenAI SDK's typed models). CPython's collector runs a pass every 700 new container objects,
and the older generations' passes walk everything alive: on the bench, collection took ~0.8 s
of a run's first 4 s (more than agentctl's own start-up), and the interpreter walked it all once
more at exit. So while modules load, `loading()` raises the first threshold to 20,000, and
`loaded()` then moves every object that exists (module objects, which live until exit anyway)
out of the collector's sight with `gc.freeze()` and puts the thresholds back: garbage the job
makes is collected as usual. Objects that were already garbage when frozen are never freed
(a few MB at most). Only the program's entry point calls `loading()`; without it `loaded()`
does nothing, so code that imports agentctl as a library keeps its own settings.
"""

from __future__ import annotations

import gc
import threading

LOADING_GEN0 = 20_000

_lock = threading.Lock()
_saved: tuple[int, int, int] | None = None


def loading() -> None:
    """Collect less often until `loaded()` (idempotent)."""
    global _saved
    with _lock:
        if _saved is None:
            first, second, third = gc.get_threshold()
            _saved = (first, second, third)
            gc.set_threshold(max(first, LOADING_GEN0), second, third)


def loaded() -> None:
    """Start-up is over: freeze what exists and collect as usual again (idempotent)."""
    global _saved
    with _lock:
        if _saved is not None:
            gc.freeze()
            gc.set_threshold(*_saved)
            _saved = None
