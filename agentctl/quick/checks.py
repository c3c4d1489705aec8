"""The checks `run --queue` makes on every call, as `cli/run.py` and `engine/launch.py` make
them, without importing the engine: each raises HandOver where the original raises an error
(the typer app then raises it, in its words). Being stricter than the original only costs
time; never more lenient (tests/test_quick_enqueue.py holds each to its original)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentctl.store.base import Schedule, Store

from agentctl.errors import AgentctlError


class HandOver(Exception):
    """Let the typer app do it (it says why, if anything is wrong)."""


def check_key(key: str | None) -> str | None:
    """engine.admission.check_key."""
    from agentctl.engine.admission import check_key

    try:
        return check_key(key)
    except AgentctlError:
        raise HandOver("bad --key") from None


def schedule(priority: int, not_before: str | None) -> Schedule | None:
    """engine.admission.parse_schedule (cli/run.py's _schedule; --queue is given)."""
    from agentctl.engine.admission import parse_schedule

    try:
        return parse_schedule(priority, not_before, now=time.time())
    except AgentctlError:
        raise HandOver("bad --not-before") from None


def queue_name(queue: str) -> str:
    """cli/run.py's _queue_name (without --detach, which hands over)."""
    if not queue.strip() or queue.startswith("-"):
        raise HandOver("bad queue name")
    return queue.strip()


def workspace_folder(workspace: str | None, *, force: bool) -> Path:
    """engine.admission.workspace_folder (it refuses `/` and home folders unless forced)."""
    from agentctl.engine.admission import workspace_folder

    try:
        return workspace_folder(workspace, force=force)
    except AgentctlError:
        raise HandOver("no workspace folder, or a broad one") from None


def open_store(db: str | None) -> Store:
    """cli/options.open_store(db) for `run` (create=True); the store's own opening (its
    migrations, a PostgreSQL URL's connection) is the same call."""
    from agentctl.paths import resolve_db_target
    from agentctl.store import open_store as open_target

    target = resolve_db_target(db)
    if isinstance(target, Path):
        named = db or os.environ.get("AGENTCTL_DB")
        if named and not target.parent.is_dir():
            raise HandOver("no database folder")
    try:
        return open_target(target)
    except Exception:  # the app opens it again and reports what fails
        raise HandOver("the store did not open") from None


def refuse_taken_workspace(store: Store, folder: Path, *, key: str | None, shared: bool) -> None:
    """engine.admission.refuse_taken_workspace: no database inside, no other job there."""
    from agentctl.engine.admission import refuse_taken_workspace

    try:
        refuse_taken_workspace(store, folder, key=key, shared=shared)
    except AgentctlError:
        raise HandOver("the database is inside the workspace, or another job works there") from None
