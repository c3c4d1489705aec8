"""What a program a recipe names needs to start in the sandbox, and what the sandbox hid from it.

The sandbox hides home folders, and that is where people install the servers they run: a
venv in a project, pipx, uv, a pyenv or nvm interpreter. `program_paths` resolves a command
the way the kernel and the interpreter will, without running anything: the program found on
PATH (its symlinks followed), the interpreter its `#!` line names (`/usr/bin/env NAME`
looked up on PATH), and for a Python venv the installation its `pyvenv.cfg` `home` points to
(a chain of them). Each is shown read-only as its installation prefix (the folder holding
`bin/`), with the targets of links in that prefix's `lib/` (its libraries), but only where a
home hides it, and never a whole home or `/`.

`hidden_paths_in` reads a failed start's error text for paths the sandbox hides, so the
error can name them and the fix.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

SHEBANG_LIMIT = 256
MAX_CHAIN = 8  # venvs made from venvs; more is a loop
_PATH_IN_TEXT = re.compile(r"(/[^\s'\"():,;]+)")


def _shebang(path: str, search: str) -> str | None:
    """The interpreter a script's `#!` line runs (`env NAME` resolved on `search`)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(SHEBANG_LIMIT)
    except OSError:
        return None
    if not head.startswith(b"#!"):
        return None
    words = head[2:].split(b"\n", 1)[0].decode("utf-8", "replace").split()
    if not words:
        return None
    if os.path.basename(words[0]) == "env":
        names = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
        return shutil.which(names[0], path=search) if names else None
    return words[0]


def _prefix(executable: Path) -> Path:
    folder = executable.parent
    return folder.parent if folder.name == "bin" else folder


def _venv_home(prefix: Path) -> Path | None:
    """The `home` (a bin folder) of a venv's `pyvenv.cfg`, if `prefix` is a venv."""
    try:
        text = (prefix / "pyvenv.cfg").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip().lower() == "home" and value.strip():
            return Path(value.strip())
    return None


def _installations(executable: str, search: str) -> list[Path]:
    """The prefixes an executable needs: its own (as named and resolved), its interpreter's,
    and the Python installations its venv (and that venv's own base) was made from."""
    prefixes: list[Path] = []
    pending = [executable]
    seen: set[str] = set()
    while pending and len(seen) < MAX_CHAIN * 4:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for form in (os.path.abspath(current), os.path.realpath(current)):
            prefix = _prefix(Path(form))
            if prefix not in prefixes:
                prefixes.append(prefix)
            home = _venv_home(prefix)
            if home is not None:
                pending += [str(home / "python3"), str(home / "python")]
        interpreter = _shebang(current, search)
        if interpreter is not None:
            pending.append(interpreter)
    return prefixes


def _library_links(prefix: Path) -> list[Path]:
    """Where the links in `prefix/lib` lead (a stdlib or a library linked from elsewhere)."""
    try:
        entries = list(os.scandir(prefix / "lib"))
    except OSError:
        return []
    return [Path(os.path.realpath(e.path)) for e in entries if e.is_symlink()]


def program_paths(program: str, path: str, homes: list[str]) -> tuple[Path, ...]:
    """The installations `program` (found on `path`) needs, as far as `homes` (the folders
    the sandbox hides) hide them: shown read-only in the sandbox, because the recipe named
    that program. Never a whole home folder or `/`."""
    found = shutil.which(program, path=path)
    if found is None:
        return ()
    hidden = [Path(h) for h in homes]
    out: list[Path] = []
    for prefix in _installations(found, path):
        for candidate in (prefix, *_library_links(prefix)):
            if candidate in hidden or candidate == Path("/"):
                continue  # a home itself stays hidden
            if any(h in candidate.parents for h in hidden) and candidate.exists():
                out.append(candidate)
    return tuple(dict.fromkeys(out))


def hidden_paths_in(text: str, hidden: list[str], shown: list[str]) -> list[str]:
    """Absolute paths `text` mentions that lie in a folder the sandbox hides (`hidden`) and
    were not made visible (`shown`), in order, each once."""
    found: list[str] = []
    for raw in _PATH_IN_TEXT.findall(text):
        path = raw.rstrip(".")
        inside = any(path == h or path.startswith(h.rstrip("/") + "/") for h in hidden)
        visible = any(path == s or path.startswith(s.rstrip("/") + "/") for s in shown)
        if inside and not visible and path not in found:
            found.append(path)
    return found


def server_files(argv: list[str], search: str, hidden: list[str]) -> tuple[Path, ...]:
    """What the sandbox shows a server although `hidden` folders hold it: its program's
    installations, and the existing absolute paths its command line names (the recipe
    named them)."""
    named = [Path(a) for a in argv[1:] if a.startswith("/") and os.path.exists(a)]
    return (*program_paths(argv[0], search, hidden), *named)


def sandbox_advice(
    name: str, text: str, hidden: list[str], shown: list[str]
) -> tuple[str, str] | None:
    """(more error text, hint) for a confined server `name` whose failure `text` mentions a
    path in a `hidden` folder that is not `shown`; None when it mentions none."""
    paths = hidden_paths_in(text, hidden, shown)
    if not paths:
        return None
    more = (
        f"\nthe sandbox hides {', '.join(paths[:3])} (home folders, and as root what only "
        "root may read); only the server's program, its interpreter and their installations "
        "are shown from there"
    )
    folder = paths[0] if os.path.isdir(paths[0]) else os.path.dirname(paths[0])
    hint = (
        f'let the server read it: add a policy rule {{tools: ["{name}.*"], paths: '
        f'["{folder}/**"], decision: allow}} (shown read-only in the sandbox), or install the '
        "server outside home folders, or set `sandbox: off` for this recipe's policy"
    )
    return more, hint
