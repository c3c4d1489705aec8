"""OS confinement of tool processes with bubblewrap, and the policy's `sandbox` modes.

`probe_confinement` checks once per process whether bubblewrap works here: containers and
some kernels refuse the namespaces it needs. `build_argv` wraps a shell command in it:

- the whole file system read-only (`--ro-bind / /`), the workspace writable;
- a private /tmp, a new /dev and /proc;
- every namespace unshared: pid (all processes die with the sandbox), ipc, uts, user where
  possible, and the network unless `network` is true (then `--share-net`);
- `--die-with-parent`, `--new-session` (no injecting input into the caller's terminal);
- exactly the environment the process is started with: the caller passes it as the
  process environment (bwrap hands it on unchanged), never as `--setenv` arguments, whose
  values every user of the machine could read in `ps`;
- the job's own files hidden: a directory under an empty tmpfs, a file under /dev/null,
  even inside the workspace. A hidden path that does not exist when the command starts is
  skipped (there is nothing to read yet).

Modes (the policy's `sandbox:`): `required` refuses to run unconfined (`confinement_for`
returns the reason to give the model), `preferred` runs unconfined when it must (the engine
warns once with `warning_for` and makes every shell action `ask`), `off` never confines.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

MODES = ("required", "preferred", "off")
PROBE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Confinement:
    kind: str  # "bwrap" | "none"
    reason: str  # why confinement is unavailable ("" when it works)
    network_isolation: bool = False  # can the sandbox cut the network (--unshare-net)?
    bwrap: str = "bwrap"  # the bubblewrap executable

    @property
    def available(self) -> bool:
        return self.kind == "bwrap"


UNCONFINED = Confinement("none", "sandbox is off")

_probe_lock = threading.Lock()
_probed: Confinement | None = None


def _bwrap_base(bwrap: str) -> list[str]:
    return [
        bwrap,
        "--ro-bind",
        "/",
        "/",
        "--tmpfs",
        "/tmp",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
    ]


def _try(argv: list[str]) -> str | None:
    """Run a probe; return None when it worked, else what went wrong."""
    try:
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=PROBE_TIMEOUT_S,
            env={"PATH": "/usr/bin:/bin"},
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode == 0:
        return None
    text = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()
    return (text[-1] if text else f"exit code {done.returncode}")[:300]


def _probe() -> Confinement:
    if not sys.platform.startswith("linux"):
        return Confinement("none", f"bubblewrap confinement needs Linux (this is {sys.platform})")
    bwrap = shutil.which("bwrap") or next(
        (p for p in ("/usr/bin/bwrap", "/usr/local/bin/bwrap") if os.access(p, os.X_OK)), None
    )
    if bwrap is None:
        return Confinement("none", "bubblewrap (bwrap) is not installed")
    true = shutil.which("true") or "/bin/true"
    failed = _try([*_bwrap_base(bwrap), "--", true])
    if failed is None:
        return Confinement("bwrap", "", network_isolation=True, bwrap=bwrap)
    # Some containers allow every namespace but the network one.
    if _try([*_bwrap_base(bwrap), "--share-net", "--", true]) is None:
        return Confinement(
            "bwrap", f"no network isolation: {failed}", network_isolation=False, bwrap=bwrap
        )
    return Confinement("none", f"bubblewrap does not work here: {failed}")


def probe_confinement(*, refresh: bool = False) -> Confinement:
    """Return what confinement works on this machine; probed once per process."""
    global _probed
    with _probe_lock:
        if _probed is None or refresh:
            _probed = _probe()
        return _probed


def confinement_for(
    mode: str, *, network: bool = True, available: Confinement | None = None
) -> tuple[Confinement | None, str | None]:
    """Return (confinement to use or None for unconfined, error when it must not run).

    `available` replaces the probe (tests). With `network` false, a sandbox that cannot cut
    the network counts as no sandbox for `required`; `preferred` then shares the network.
    """
    if mode not in MODES:
        return None, f"unknown sandbox mode {mode!r} (expected one of: {', '.join(MODES)})"
    if mode == "off":
        return None, None
    found = probe_confinement() if available is None else available
    if mode == "required":
        if not found.available:
            return None, (
                f"refused: the policy requires a sandbox (sandbox: required) but "
                f"none is available here: {found.reason}. Nothing was run."
            )
        if not network and not found.network_isolation:
            return None, (
                f"refused: the policy requires a sandbox without network "
                f"(sandbox: required, network: false) but {found.reason}. "
                f"Nothing was run."
            )
    return (found if found.available else None), None


def warning_for(
    mode: str, *, network: bool = True, available: Confinement | None = None
) -> str | None:
    """The one warning the engine shows for `mode` on this machine, or None."""
    if mode != "preferred":
        return None
    found = probe_confinement() if available is None else available
    if not found.available:
        return (
            f"sandbox unavailable ({found.reason}): shell tools run unconfined, with the "
            f"agent's own rights; every shell action needs approval"
        )
    if not network and not found.network_isolation:
        return (
            f"sandbox cannot cut the network here ({found.reason}): shell tools keep network access"
        )
    return None


def _real(path: Path | str) -> str:
    return os.path.realpath(os.fspath(path))


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _hide(path: str) -> list[str]:
    if os.path.isdir(path):
        return ["--tmpfs", path]
    if os.path.lexists(path):
        return ["--ro-bind", "/dev/null", path]
    return []


def shell_argv(command: str) -> list[str]:
    shell = "/bin/bash" if os.access("/bin/bash", os.X_OK) else "/bin/sh"
    return [shell, "-c", command]


def build_argv(
    command: str,
    *,
    workspace: Path | str | None = None,
    confinement: Confinement | None = None,
    network: bool = True,
    hidden_paths: Iterable[Path | str] = (),
    env: Mapping[str, str] | None = None,
    new_session: bool = True,
) -> list[str]:
    """Return the argv that runs `command` through a shell, confined when asked.

    Without a usable `confinement` this is `/bin/bash -c COMMAND`. `new_session` false keeps
    the caller's terminal as the controlling one (interactive sessions in their own pty).
    `env` must be the environment the argv is started with; it is not put on the command
    line (values there are visible to every user in `ps`), bwrap passes it on as it is.
    """
    inner = shell_argv(command)
    if confinement is None or not confinement.available:
        return inner
    if workspace is None:
        raise ValueError("a confined command needs its workspace")
    ws = _real(workspace)
    hidden = [_real(p) for p in hidden_paths]
    argv = [
        confinement.bwrap,
        "--ro-bind",
        "/",
        "/",
        "--tmpfs",
        "/tmp",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
    ]
    # Mounts apply in order: a hidden folder holding the workspace goes before the workspace
    # bind (the workspace stays usable), everything else after (it stays hidden).
    around = [p for p in hidden if _within(ws, p) and os.path.isdir(p)]
    for path in around:
        argv += _hide(path)
    argv += ["--bind", ws, ws]
    for path in hidden:
        if path not in around:
            argv += _hide(path)
    argv += ["--unshare-all"]
    if network or not confinement.network_isolation:
        argv += ["--share-net"]
    argv += ["--die-with-parent"]
    if new_session:
        argv += ["--new-session"]
    # `env` is not written here: values on a command line are public (see the docstring).
    argv += ["--chdir", ws, "--", *inner]
    return argv
