"""Options every command takes (`--db`, `--debug`), before or after the command name."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from agentctl.store.base import Store


@dataclass
class GlobalOptions:
    db: str | None = None
    debug: bool = False


GLOBAL = GlobalOptions()

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="The job database: a file, or postgresql://... (else $AGENTCTL_DB, else the user"
        " data dir).",
        metavar="PATH|URL",
    ),
]
# For commands that never open the database (schema, completion, init): still accepted, as
# on every command, but not offered in their --help, where it would promise an effect.
UnusedDbOption = Annotated[str | None, typer.Option("--db", hidden=True)]
DebugOption = Annotated[bool, typer.Option("--debug", help="Show tracebacks.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
JobArgument = Annotated[
    str,
    typer.Argument(
        help="A job id, a unique prefix of one, or `last` (the newest job).",
        metavar="JOB",
        autocompletion=lambda incomplete: complete_job_ids(incomplete),
    ),
]


def complete_job_ids(incomplete: str) -> list[tuple[str, str]]:
    """Job ids for a shell's TAB (`agentctl status <TAB>`), newest first, each with its
    recipe and state as the help text; nothing (never an error) when the store cannot open."""
    try:
        store = open_store(None, create=False)
    except Exception:
        return []
    try:
        jobs = store.list_jobs()
    except Exception:
        return []
    finally:
        store.close()
    found = [("last", "the newest job")] if "last".startswith(incomplete) else []
    for job in jobs[:200]:
        if str(job["id"]).startswith(incomplete):
            found.append((str(job["id"]), f"{job['recipe']} ({job['state']})"))
    return found


def complete_states(incomplete: str) -> list[str]:
    from agentctl.events import JobState

    return [str(s) for s in JobState if str(s).startswith(incomplete)]


def open_store(db: str | None, *, create: bool = True) -> Store:
    """The store named by --db (here or before the command), $AGENTCTL_DB, or the default:
    a `postgresql://` URL, or a SQLite file.

    Commands that only read or act on existing jobs pass `create=False`: they read a missing
    database file as empty, so a typo in --db never leaves a stray database behind.
    A folder given for the database (--db or AGENTCTL_DB) must exist: made silently, a typo
    would split one's jobs over two databases.
    """
    from pathlib import Path

    from agentctl.errors import UsageError
    from agentctl.paths import resolve_db_target
    from agentctl.store import open_store as open_target

    target = resolve_db_target(db or GLOBAL.db)
    if not isinstance(target, Path):  # a database server: it is there or it is not
        return open_target(target)
    named = db or GLOBAL.db or os.environ.get("AGENTCTL_DB")
    if named and not target.parent.is_dir():
        raise UsageError(
            f"the database folder {target.parent} does not exist (--db {target})",
            f"check the path, or create the folder first: mkdir -p {target.parent}",
        )
    if not create and not target.exists():
        return open_target(Path(":memory:"))  # nothing recorded there yet: an empty store
    return open_target(target)


def is_interactive(non_interactive: bool = False) -> bool:
    """SPEC: stdin and stdout are terminals, CI is not true, and --non-interactive not given."""
    ci = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
    return not non_interactive and not ci and sys.stdin.isatty() and sys.stdout.isatty()


def read_stdin_recipe() -> str:
    """`agentctl run -`: the recipe is what stdin holds (a pipe or a here-document)."""
    from agentctl.errors import UsageError

    if sys.stdin.isatty():
        raise UsageError(
            "`run -` reads the recipe from stdin, and stdin is a terminal",
            "pipe a recipe in: `cat recipe.yaml | agentctl run -`, or pass a file",
        )
    text = sys.stdin.read()
    if not text.strip():
        raise UsageError("`run -` read no recipe from stdin (it was empty)", "pipe a recipe in")
    return text
