"""Code the job wrote is not trusted by where it lives.

A rule like `bash scripts/*` or `pytest *` was written for the repository's own scripts and
tests, whose content its author knew; a file this job created or changed since is code no
rule has seen. `job_code_run` finds, in one simple command, the file it would run that the
job wrote (the job's change log is the source of `written`): a script given to a shell or an
interpreter (`bash X`, `sh X`, `python X`, `node X`, `source X`, `. X`), a program run by
its path (`./X`), `make` with a changed Makefile, `npm`/`yarn`/`pnpm run|test|start` with a
changed package.json, `pytest` with a changed conftest.py. `agentctl.policy.touches` turns
it into an `ask` that no rule can loosen.
"""

from __future__ import annotations

import os
import re
from collections.abc import Set as AbstractSet

from agentctl.policy.inner import HOLE
from agentctl.policy.shellwords import SimpleCommand

_SCRIPT_RUNNERS = re.compile(
    r"^(?:sh|bash|zsh|dash|ksh|mksh|ash|source|\.|python[0-9.]*|pypy[0-9.]*|perl[0-9.]*"
    r"|ruby[0-9.]*|node|nodejs|php[0-9.]*|lua[0-9.]*|bun|deno|tclsh[0-9.]*)$"
)
# Options of those runners whose value is the next word (it is not the script).
_VALUE_OPTIONS = frozenset(
    {"-W", "-X", "-m", "-I", "-M", "-r", "--require", "-o", "-O", "--rcfile"}
)
_MAKEFILES = frozenset({"Makefile", "makefile", "GNUmakefile"})
_PACKAGE_RUNNERS = frozenset({"npm", "yarn", "pnpm", "bun"})
_PYTEST = frozenset({"pytest", "py.test"})


def _rel(word: str, root: str) -> str | None:
    if not word or HOLE in word:
        return None
    absolute = os.path.realpath(os.path.join(root, os.path.expanduser(word)))
    if not absolute.startswith(root.rstrip(os.sep) + os.sep):
        return None
    return os.path.relpath(absolute, root).replace(os.sep, "/")


_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "mksh", "ash"})


def _script_argument(name: str, args: tuple[str, ...]) -> str | None:
    """The script a shell or an interpreter runs: its first word that is not an option."""
    inline = ("-c",) if name in _SHELLS else ("-c", "-e", "-m", "-E", "-p", "-r")
    skip = False
    for word in args:
        if skip:
            skip = False
            continue
        if word == "--":
            continue
        if word in inline:
            return None  # inline code or a module: not a file named here
        if word.startswith("-"):
            skip = word in _VALUE_OPTIONS
            continue
        return word
    return None


def _named(written: AbstractSet[str], names: AbstractSet[str], suffix: str = "") -> str | None:
    for rel in sorted(written):
        base = rel.rsplit("/", 1)[-1]
        if base in names or (suffix and base.endswith(suffix)):
            return rel
    return None


def job_code_run(command: SimpleCommand, root: str, written: AbstractSet[str]) -> str | None:
    """The workspace path of a file the job wrote that `command` runs, or None."""
    if not written:
        return None
    name, args = command.name, command.args
    if "/" in command.program:
        rel = _rel(command.program, root)
        if rel in written:
            return rel
    if _SCRIPT_RUNNERS.match(name):
        script = _script_argument(name, args)
        rel = _rel(script, root) if script is not None else None
        if rel in written:
            return rel
        if name.startswith(("python", "pypy")) and "pytest" in args[:3]:
            return _named(written, {"conftest.py"})
    if name in ("make", "gmake"):
        return _named(written, _MAKEFILES, ".mk")
    if name in _PACKAGE_RUNNERS and args[:1] and args[0] in ("run", "test", "start", "t"):
        return _named(written, {"package.json"})
    if name in _PYTEST:
        return _named(written, {"conftest.py"})
    return None


__all__ = ["job_code_run"]
