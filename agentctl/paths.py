"""Where agentctl keeps its state: `--db`, else `AGENTCTL_DB`, else the user data dir."""

from __future__ import annotations

import os
from pathlib import Path


def default_state_dir() -> Path:
    """The user data dir: the default database, and detached runners' output."""
    import platformdirs  # imported here: only needed when no path was given

    return Path(platformdirs.user_data_dir("agentctl", appauthor=False))


def default_db_path() -> Path:
    env = os.environ.get("AGENTCTL_DB")
    if env:
        return Path(env).expanduser()
    return default_state_dir() / "agentctl.db"


def resolve_db_path(explicit: str | os.PathLike[str] | None) -> Path:
    return Path(explicit).expanduser() if explicit else default_db_path()


def is_database_url(value: str | os.PathLike[str] | None) -> bool:
    return isinstance(value, str) and value.startswith(("postgresql://", "postgres://"))


def resolve_db_target(explicit: str | os.PathLike[str] | None) -> str | Path:
    """`--db` (else AGENTCTL_DB, else the default file): a PostgreSQL URL, or a file path."""
    value = explicit or os.environ.get("AGENTCTL_DB")
    if is_database_url(value):
        return str(value)
    return resolve_db_path(explicit)
