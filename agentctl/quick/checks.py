"""The checks `run --queue` makes on every call, as `cli/run.py` and `engine/launch.py` make
them, without importing the engine: each raises HandOver where the original raises an error
(the typer app then raises it, in its words). Being stricter than the original only costs
time; never more lenient (tests/test_quick_enqueue.py holds each to its original)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentctl.store.base import Schedule, Store

MAX_KEY_LENGTH = 200  # engine.keys.MAX_KEY_LENGTH


class HandOver(Exception):
    """Let the typer app do it (it says why, if anything is wrong)."""


def check_key(key: str | None) -> str | None:
    """engine.keys.check_key."""
    if key is None:
        return None
    cleaned = key.strip()
    if not cleaned or len(cleaned) > MAX_KEY_LENGTH or not cleaned.isprintable():
        raise HandOver("bad --key")
    return cleaned


def schedule(priority: int, not_before: str | None) -> Schedule | None:
    """engine.launch.parse_schedule (cli/run.py's _schedule; --queue is given)."""
    from agentctl.store.base import Schedule

    if not priority and not_before is None:
        return None
    from agentctl.times import parse_time
    from agentctl.units import parse_duration

    when = None
    if not_before is not None:
        try:
            when = time.time() + parse_duration(not_before)
        except ValueError:
            try:
                when = parse_time(not_before)
            except ValueError:
                when = None
            if when is None:
                raise HandOver("bad --not-before") from None
    return Schedule(priority=priority, not_before=when)


def queue_name(queue: str) -> str:
    """cli/run.py's _queue_name (without --detach, which hands over)."""
    if not queue.strip() or queue.startswith("-"):
        raise HandOver("bad queue name")
    return queue.strip()


def workspace_folder(workspace: str | None, *, force: bool) -> Path:
    """engine.launch._workspace_folder and refuse_broad_workspace."""
    folder = Path(workspace or ".").expanduser()
    if not folder.is_dir():
        raise HandOver("no workspace folder")
    if not force:
        resolved = folder.resolve()
        homes = {Path("/"), Path("/root")}
        try:
            homes.add(Path.home().resolve())
        except (RuntimeError, OSError):
            pass
        if resolved in homes or resolved.parent in (Path("/home"), Path("/Users")):
            raise HandOver("a broad workspace")
    return folder


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
    """engine.launch.refuse_taken_workspace: no database inside, no other job there."""
    db = store.db_file
    if db is not None:
        db, root = db.resolve(), folder.resolve()
        if root == db.parent or root in db.parents:
            raise HandOver("the database is inside the workspace")
    if shared:
        return
    holder = store.workspace_holder(
        str(folder.resolve()), now=time.time(), host=this_host(), is_alive=_is_alive
    )
    if holder is not None and (key is None or store.get_job(holder["id"]).get("key") != key):
        raise HandOver("another job works in the workspace")


def this_host() -> str:
    """process.procinfo.current_process().host, socket.gethostname(): on Linux the kernel's
    node name, which uname() gives without importing socket."""
    if sys.platform.startswith("linux"):
        return os.uname().nodename
    import socket  # pragma: no cover - elsewhere, procinfo's own call

    return socket.gethostname()


def _is_alive(pid: int, start: str = "") -> bool:
    """process.procinfo.is_process_alive, imported only when a job's lease names the folder."""
    from agentctl.process.procinfo import is_process_alive

    return is_process_alive(pid, start)
