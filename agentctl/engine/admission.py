"""What `run` checks before it records a job (its key, its schedule, its workspace), in a
module that imports little: `agentctl/engine/launch.py` and the fast `run --queue` path
(`agentctl/quick`) both call these, so the rules and their messages live once."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from agentctl.errors import UsageError

if TYPE_CHECKING:
    from agentctl.store import Schedule, Store

MAX_KEY_LENGTH = 200


def check_key(key: str | None) -> str | None:
    """The key as stored (surrounding blanks dropped); UsageError for one nobody could type
    again (empty, control characters, too long)."""
    if key is None:
        return None
    cleaned = key.strip()
    if not cleaned or len(cleaned) > MAX_KEY_LENGTH or not cleaned.isprintable():
        raise UsageError(
            f"bad --key {key!r}: a key is 1 to {MAX_KEY_LENGTH} printable characters",
            'name the run, e.g. --key "$GITHUB_RUN_ID-$GITHUB_JOB"',
        )
    return cleaned


def parse_schedule(priority: int, not_before: str | None, *, now: float) -> Schedule | None:
    """`run --priority N --not-before WHEN` (WHEN: a delay such as 10m, or a date and time)."""
    if not priority and not_before is None:
        return None
    from agentctl.store import Schedule
    from agentctl.times import parse_time
    from agentctl.units import parse_duration

    when = None
    if not_before is not None:
        try:
            when = now + parse_duration(not_before)
        except ValueError:
            try:
                when = parse_time(not_before)
            except ValueError:
                when = None
            if when is None:
                raise UsageError(
                    f"--not-before {not_before!r} is neither a delay nor a date and time",
                    "write a delay (10m, 2h) or a time (2026-12-24T08:00, in UTC without a zone)",
                ) from None
    return Schedule(priority=priority, not_before=when)


def workspace_folder(workspace: str | None, *, force: bool) -> Path:
    """`--workspace DIR` (default: here): an existing folder, and not `/` or a home folder
    unless forced."""
    folder = Path(workspace or ".").expanduser()
    if not folder.is_dir():
        raise UsageError(
            f"workspace {folder} is not a folder", "pass --workspace DIR with an existing folder"
        )
    if not force:
        refuse_broad_workspace(folder.resolve())
    return folder


def refuse_broad_workspace(folder: Path) -> None:
    """`/` or a home folder as the workspace is almost always a slip: every command would be
    bracketed by a snapshot of everything under it. It takes `--force-workspace`."""
    homes = {Path("/"), Path("/root")}
    try:
        homes.add(Path.home().resolve())
    except (RuntimeError, OSError):
        pass
    if folder in homes or (folder.parent in (Path("/home"), Path("/Users"))):
        what = "the root folder" if folder == Path("/") else "a home folder"
        raise UsageError(
            f"workspace {folder} is {what}: the job could change, and agentctl would record,"
            " every file under it",
            "pass --workspace with the project folder the job works on"
            " (or add --force-workspace if you really mean it)",
        )


def refuse_taken_workspace(store: Store, folder: Path, *, key: str | None, shared: bool) -> None:
    """The workspace holds no database and (unless `--shared-workspace`) no other job."""
    refuse_database_inside(store, folder)
    if not shared:
        refuse_held_workspace(store, folder.resolve(), key=key)


def refuse_held_workspace(store: Store, folder: Path, *, key: str | None = None) -> None:
    """One job per workspace: a run in a folder where another job's runner works exits 2
    naming it, before a job is made (the runner's lease takes the workspace for good). The
    job of this run's own `key` is no other job: that run waits for it (engine/keys.py)."""
    from agentctl.process.procinfo import host_name, is_process_alive
    from agentctl.store import workspace_busy

    holder = store.workspace_holder(
        str(folder), now=time.time(), host=host_name(), is_alive=is_process_alive
    )
    if holder is not None and (key is None or store.get_job(holder["id"]).get("key") != key):
        raise workspace_busy(str(folder), holder)


def refuse_database_inside(store: Store, workspace: Path) -> None:
    """A database inside the workspace could be renamed or replaced by the job's own
    commands (the sandbox keeps the workspace writable): refused."""
    db = store.db_file
    if db is None:  # a database server (or in memory): nothing in the workspace to guard
        return
    db, root = db.resolve(), workspace.resolve()
    if root == db.parent or root in db.parents:
        raise UsageError(
            f"the database {db} is inside the workspace {root}: the job's commands could "
            "rename or replace it",
            "keep the database outside the workspace: pass --db PATH or set AGENTCTL_DB",
        )
