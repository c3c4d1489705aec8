"""The policy's `sandbox` modes, what confinement this machine offers, and a job's settings.

`probe_confinement` checks once per process whether bubblewrap works here: containers and
some kernels refuse the namespaces it needs. The command line of a confined command is
`agentctl.process.bwrap`; `agentctl.process.confine` is the one place that confines one.

Modes (the policy's `sandbox:`): `required` refuses to run unconfined (`confinement_for`
returns the reason to give the model), `preferred` runs unconfined when it must (the engine
warns once with `warning_for` and makes every shell action `ask`), `off` never confines.

`SandboxSettings` is what a job's policies say of confining its processes (the mode, the
network, what to hide and show, a read-only workspace), as one frozen value handed from the
engine to the tools and the MCP servers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

from agentctl.process.sandbox_user import sandbox_user
from agentctl.process.seccomp import filter_program

MODES = ("required", "preferred", "off")
PROBE_TIMEOUT_S = 10.0
# The descriptor bwrap reads the seccomp filter from (the reaper puts it there).
SECCOMP_FD = 200


@dataclass(frozen=True)
class SandboxSettings:
    """How a job's processes are confined, as its policies say (see the module docstring).

    `mode`: "required" | "preferred" | "off". `network`: may a confined process reach the
    network. `hidden_paths`: never visible to a confined process (the database and its
    folder). `visible_paths`: shown read-only although inside a hidden home (a policy's allow
    rules name them). `read_only_workspace`: no policy allows a write, so the kernel refuses
    them all. Unconfined commands ignore all but `mode`.
    """

    mode: str = "off"
    network: bool = True
    hidden_paths: tuple[Path, ...] = ()
    visible_paths: tuple[Path, ...] = ()
    read_only_workspace: bool = False

    def narrowed(self, *, network: bool, read_only_workspace: bool) -> SandboxSettings:
        """These settings once a policy was added to a live job: the network only if both
        allow it; `read_only_workspace` as the whole set of policies now says."""
        return replace(
            self, network=self.network and network, read_only_workspace=read_only_workspace
        )


@dataclass(frozen=True)
class Confinement:
    kind: str  # "bwrap" | "none"
    reason: str  # why confinement is unavailable ("" when it works)
    network_isolation: bool = False  # can the sandbox cut the network (--unshare-net)?
    bwrap: str = "bwrap"  # the bubblewrap executable
    # The compiled seccomp filter bwrap loads (None: none could be built here; see notes).
    seccomp: bytes | None = field(default=None, repr=False)
    notes: str = ""  # what this confinement lacks, e.g. "no seccomp filter: ..."
    # bwrap >= 0.8 forbids nested user namespaces itself; older ones rely on the filter.
    disable_userns: bool = True

    @property
    def available(self) -> bool:
        return self.kind == "bwrap"


_probe_lock = threading.Lock()
_probed: Confinement | None = None


def identity_args(disable_userns: bool = True, workspace: str | None = None) -> list[str]:
    """No capabilities at all, whatever uid agentctl has: an unprivileged uid in a new user
    namespace (bwrap drops every capability), no nested user namespace, no_new_privs (bwrap
    always sets it)."""
    uid, gid = sandbox_ids(workspace)
    argv = ["--unshare-user", "--uid", str(uid), "--gid", str(gid)]
    if disable_userns:
        argv.append("--disable-userns")
    return [*argv, "--cap-drop", "ALL"]


def _bwrap_base(bwrap: str, disable_userns: bool = True) -> list[str]:
    return [
        bwrap,
        *identity_args(disable_userns),
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


def _try(argv: list[str], seccomp: bytes | None = None) -> str | None:
    """Run a probe; return None when it worked, else what went wrong."""
    fds: tuple[int, ...] = ()
    if seccomp is not None:
        read_end, write_end = os.pipe()
        os.write(write_end, seccomp)
        os.close(write_end)
        fds = (read_end,)
        at = argv.index("--")
        argv = [*argv[:at], "--seccomp", str(read_end), *argv[at:]]
    try:
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=PROBE_TIMEOUT_S,
            env={"PATH": "/usr/bin:/bin"},
            check=False,
            pass_fds=fds,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    finally:
        for fd in fds:
            os.close(fd)
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
    nested = _supports(bwrap, "--disable-userns")
    program, notes = filter_program()

    def base() -> list[str]:
        return _bwrap_base(bwrap, nested)

    if program is not None:
        failed = _try([*base(), "--", true], program)
        if failed is not None and _try([*base(), "--", true]) is None:
            program, notes = None, f"no seccomp filter: bwrap refused it ({failed})"
    if not nested and program is None:
        # A nested user namespace gives its capabilities back over new namespaces only (the
        # mounts it inherits stay locked read-only), but it is kernel surface: say so.
        notes += "; nested user namespaces are not blocked (bubblewrap older than 0.8)"
    works = Confinement(
        "bwrap",
        "",
        network_isolation=True,
        bwrap=bwrap,
        seccomp=program,
        notes=notes,
        disable_userns=nested,
    )
    failed = _try([*base(), "--", true], program)
    if failed is None:
        return works
    # Some containers allow every namespace but the network one.
    if _try([*base(), "--share-net", "--", true], program) is None:
        return replace(works, reason=f"no network isolation: {failed}", network_isolation=False)
    return Confinement("none", f"bubblewrap does not work here: {failed}")


def _supports(bwrap: str, option: str) -> bool:
    try:
        done = subprocess.run(
            [bwrap, "--help"], capture_output=True, timeout=PROBE_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return option.encode() in done.stdout + done.stderr


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


def sandbox_ids(workspace: Path | str | None = None) -> tuple[int, int]:
    """The uid and gid a confined command has inside its user namespace: the caller's own;
    as root, the owner of a user's workspace (the reaper becomes them on the host too), else
    nobody's (see `agentctl.process.sandbox_user`)."""
    user = sandbox_user(workspace)
    return user.uid, user.gid
