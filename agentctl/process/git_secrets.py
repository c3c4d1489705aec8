"""Secret files in a repository's history: every version of a `.env*` file that any reachable
commit holds, even one deleted since (issue 21: a `.env` that exists only in git
history was not masked, because masking read files on disk).

Two git processes at job start, whatever the history's size: `git log --all -m --raw` limited to
the secret names (git prunes the tree walk by pathspec, so only commits touching one cost
anything) lists their blob ids, and one `git cat-file --batch` reads them. `bench/masking.py`
measures it. git runs with the repository's configuration neutralised where it could run a
program (`core.fsmonitor`, hooks, pagers, textconv, external diff).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

# Settings files whose values are secrets (the sandbox's `.env*`), from the top of the
# repository. Private keys are not read: the PEM pattern of `agentctl.redact` masks them.
SECRET_PATHSPECS = (":(top,glob,icase)**/.env*",)
HISTORY_TIMEOUT_S = 20.0
BLOB_LIMIT = 1 << 20  # a larger blob is not a settings file or a key
MAX_BLOBS = 2000
_ZERO = "0" * 40
_SAFE_CONFIG = (
    "core.fsmonitor=",
    "core.hooksPath=/dev/null",
    "core.pager=cat",
    "diff.external=",
    "log.showSignature=false",
)


def _git(workspace: Path, *args: str, stdin: bytes | None = None) -> bytes | None:
    argv = ["git", "--no-pager"]
    for setting in _SAFE_CONFIG:
        argv += ["-c", setting]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/nonexistent"),
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_OPTIONAL_LOCKS": "0",
        "LC_ALL": "C",
    }
    try:
        done = subprocess.run(
            [*argv, *args],
            cwd=workspace,
            input=stdin,
            capture_output=True,
            timeout=HISTORY_TIMEOUT_S,
            env=env,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def _secret_blobs(workspace: Path) -> dict[str, str]:
    """blob id -> the path it was committed at, for every secret-named file in any commit."""
    listed = _git(
        workspace,
        "log",
        "--all",
        "-m",
        "--raw",
        "--no-abbrev",
        "--no-renames",
        "--no-textconv",
        "--no-ext-diff",
        "--format=",
        "--",
        *SECRET_PATHSPECS,
    )
    blobs: dict[str, str] = {}
    for line in (listed or b"").decode("utf-8", "replace").splitlines():
        # :100644 100644 <old> <new> M\tpath
        if not line.startswith(":") or "\t" not in line:
            continue
        fields, path = line.split("\t", 1)
        parts = fields.split()
        for blob in parts[2:4]:
            if blob != _ZERO and len(blobs) < MAX_BLOBS:
                blobs.setdefault(blob, path)
    return blobs


def committed_secret_files(workspace: Path | str) -> list[tuple[str, str]]:
    """(path, text) of every version of a secret-named file the repository holding
    `workspace` ever committed (reachable from any ref); [] when it is not a repository."""
    folder = Path(workspace)
    blobs = _secret_blobs(folder)
    if not blobs:
        return []
    batch = _git(folder, "cat-file", "--batch", stdin="".join(f"{b}\n" for b in blobs).encode())
    if batch is None:
        return []
    found: list[tuple[str, str]] = []
    at = 0
    for path in blobs.values():
        end = batch.find(b"\n", at)
        if end < 0:
            break
        header = batch[at:end].split()
        at = end + 1
        if len(header) != 3 or header[1] != b"blob":
            continue  # "<id> missing"
        size = int(header[2])
        if size <= BLOB_LIMIT:
            found.append((path, batch[at : at + size].decode("utf-8", "replace")))
        at += size + 1  # the content, then a newline
    return found
