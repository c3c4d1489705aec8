"""Where agentctl keeps its state: `--db`, else `AGENTCTL_DB`, else the user data dir."""

from __future__ import annotations

import os
from pathlib import Path


def default_db_path() -> Path:
    env = os.environ.get("AGENTCTL_DB")
    if env:
        return Path(env).expanduser()
    import platformdirs  # imported here: only needed when no path was given

    return Path(platformdirs.user_data_dir("agentctl", appauthor=False)) / "agentctl.db"


def resolve_db_path(explicit: str | os.PathLike | None) -> Path:
    return Path(explicit).expanduser() if explicit else default_db_path()
