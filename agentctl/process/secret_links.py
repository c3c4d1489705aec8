"""Secret files a symlink in the workspace reaches: hidden in the sandbox with the link
(issue 21, case 4: `.env -> ../shared/.env`, then `grep -R PASS .`). Part of the workspace
scan of `agentctl.process.sandbox`.
"""

from __future__ import annotations

import os

from agentctl.process.sandbox_user import reachable


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def is_secret_name(name: str) -> bool:
    """`.env`, `.env.local`, `.envrc`...: a file named so holds secrets."""
    return name.startswith(".env")


# What the sandbox does not show from the host: a secret file there needs no guard.
_NOT_FROM_HOST = ("/tmp", "/dev", "/proc", "/sys")
# How many entries of a linked folder outside the workspace are looked at for secret names.
LINKED_FOLDER_LIMIT = 1000


def linked_secret_files(link: str, workspace: str) -> list[str]:
    """The secret files outside the workspace that the symlink `link` (inside it) reaches:
    its target when the link or the target has a secret name (`.env -> ../shared/.env`,
    `settings -> /srv/app/.env`), or the secret-named files directly in a linked folder
    (`config -> ../shared`). `grep -R` follows links, so these are hidden with the link."""
    real = os.path.realpath(link)
    if _within(real, workspace) or any(_within(real, p) for p in _NOT_FROM_HOST):
        return []  # inside, the walk finds the file itself; the others are not the host's
    if os.path.isfile(real):
        named = is_secret_name(os.path.basename(link)) or is_secret_name(os.path.basename(real))
        return [real] if named and reachable(real) else []
    if not os.path.isdir(real) or is_secret_name(os.path.basename(link)):
        return []  # a folder named .env is a virtualenv
    found: list[str] = []
    try:
        with os.scandir(real) as listing:
            for n, entry in enumerate(listing):
                if n >= LINKED_FOLDER_LIMIT:
                    break
                if is_secret_name(entry.name):
                    found += linked_secret_files(entry.path, workspace)
    except OSError:
        return []
    return found
