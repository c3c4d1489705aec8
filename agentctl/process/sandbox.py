"""OS confinement of tool processes with bubblewrap, and the policy's `sandbox` modes.

`probe_confinement` checks once per process whether bubblewrap works here: containers and
some kernels refuse the namespaces it needs. `build_argv` wraps a shell command in it:

- no privilege, whatever uid agentctl has: a new user namespace with an unprivileged uid
  (the caller's own, or nobody's for root), every capability dropped, no nested user
  namespace, no_new_privs, and the seccomp filter of `agentctl.process.seccomp` when
  libseccomp is there;
- the whole file system read-only (`--ro-bind / /`), the workspace writable (read-only when
  no policy allows a write: a write then fails with EROFS), a private /tmp, a new /dev and
  /proc;
- hidden (an empty read-only tmpfs, or /dev/null over a file): home folders (/home, /root,
  the caller's own) except what a policy names, /run and /var/run (host sockets), the
  host's secret files (/etc/shadow, ssh host keys), the job's own files (the database and
  its folder, even inside the workspace) and the workspace's `.env*` files;
- read-only inside the workspace: every `.git` (and the folder a `.git` file points to)
  and `.agentctl`, so no hook, `core.fsmonitor` or other config can be planted;
- every namespace unshared: pid (all processes die with the sandbox), ipc, uts, user, and
  the network unless `network` is true (then `--share-net`); a new network namespace also
  cuts abstract Unix sockets;
- `--die-with-parent`, `--new-session` (no injecting input into the caller's terminal);
- exactly the environment the process is started with: the caller passes it as the
  process environment (bwrap hands it on unchanged), never as `--setenv` arguments, whose
  values every user of the machine could read in `ps`.

A hidden path that does not exist when the command starts is skipped (there is nothing to
read yet).

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
from dataclasses import dataclass, field, replace
from pathlib import Path

from agentctl.process.sandbox_user import (
    SandboxUser,
    reachable,
    reachable_only,
    root_only_paths,
    sandbox_user,
)
from agentctl.process.seccomp import filter_program
from agentctl.process.secret_links import is_secret_name, linked_secret_files

MODES = ("required", "preferred", "off")
PROBE_TIMEOUT_S = 10.0
# The descriptor bwrap reads the seccomp filter from (the reaper puts it there).
SECCOMP_FD = 200
# Where users' own files live; hidden from confined commands (with the caller's own home).
HOME_ROOTS = ("/home", "/root", "/Users", "/var/home")
# Never a home to hide, nor anything holding one of them.
SYSTEM_ROOTS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc", "/dev", "/proc", "/tmp", "/var")
SYSTEM_SECRET_FILES = (
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/security/opasswd",
)
# Host sockets (docker, dbus, systemd...) live here; hidden from confined commands.
SOCKET_FOLDERS = ("/run", "/var/run")
# Inside the workspace, readable but never writable by a confined command.
READ_ONLY_NAMES = (".git", ".agentctl")


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


UNCONFINED = Confinement("none", "sandbox is off")

_probe_lock = threading.Lock()
_probed: Confinement | None = None


def _identity(disable_userns: bool = True, workspace: str | None = None) -> list[str]:
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
        *_identity(disable_userns),
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


def _unique_dirs(paths: Iterable[str]) -> list[str]:
    found: list[str] = []
    for path in paths:
        real = _real(path)
        if os.path.isdir(real) and real not in found:
            found.append(real)
    return found


def sandbox_ids(workspace: Path | str | None = None) -> tuple[int, int]:
    """The uid and gid a confined command has inside its user namespace: the caller's own;
    as root, the owner of a user's workspace (the reaper becomes them on the host too), else
    nobody's (see `agentctl.process.sandbox_user`)."""
    user = sandbox_user(workspace)
    return user.uid, user.gid


def _system_root(path: str) -> bool:
    """Whether `path` is, or holds, a folder the system needs (a home of `/` or `/usr`)."""
    return any(_within(root, path) for root in SYSTEM_ROOTS)


def home_folders() -> list[str]:
    """Folders holding users' own files, hidden from every confined command."""
    found = [p for p in HOME_ROOTS if os.path.isdir(p)]
    for home in (os.environ.get("HOME"), _own_home()):
        if home and os.path.isabs(home) and os.path.isdir(home):
            real = _real(home)
            if not _system_root(real) and not any(_within(real, f) for f in found):
                found.append(real)
    return found


def _own_home() -> str | None:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_dir
    except (ImportError, KeyError):
        return None


def system_secrets() -> list[str]:
    """Files of the host that hold secrets and that root-owned reads would reach."""
    found = [p for p in SYSTEM_SECRET_FILES if os.path.lexists(p)]
    for folder, suffix in (("/etc/ssh", "_key"),):
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        found += [
            f"{folder}/{n}" for n in names if n.startswith("ssh_host_") and n.endswith(suffix)
        ]
    return found


@dataclass
class WorkspaceGuards:
    """What inside the workspace a confined command may read but not write (repositories'
    `.git`, agentctl's `.agentctl/`) and may not even read (`.env*` files: secrets)."""

    read_only: list[str]
    secret_files: list[str]


def _gitdir_of(dotgit: str) -> str | None:
    """The folder a `.git` file (worktree, submodule) points at, if it names one."""
    try:
        with open(dotgit, encoding="utf-8", errors="replace") as fh:
            first = fh.readline(4096).strip()
    except OSError:
        return None
    if not first.startswith("gitdir:"):
        return None
    target = first[len("gitdir:") :].strip()
    return _real(os.path.join(os.path.dirname(dotgit), target))


def scan_workspace(workspace: Path | str) -> WorkspaceGuards:
    """Find every `.git` (folder or file), `.agentctl` and `.env*` file in the workspace.

    Symlinks are not followed while walking. A guarded name that is a symlink is guarded at
    its real path when that lies inside the workspace, and else left alone: a bind of a link
    to `/root` or `/run` would show what the sandbox hides (outside, all is read-only anyway).
    Every path returned is real (no symlink in it), so bubblewrap mounts exactly there.
    """
    ws = _real(workspace)
    read_only: list[str] = []
    secrets: list[str] = []
    stack = [ws]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            guarded = name in READ_ONLY_NAMES or is_secret_name(name)
            if not guarded:
                if is_dir:
                    stack.append(entry.path)
                elif entry.is_symlink():
                    secrets += linked_secret_files(entry.path, ws)
                continue
            real = _real(entry.path)
            if is_secret_name(name) and not _within(real, ws):
                secrets += linked_secret_files(entry.path, ws)
                continue
            if not _within(real, ws) or real == ws or not os.path.exists(real):
                continue
            if not reachable(real):
                continue
            if name in READ_ONLY_NAMES:
                read_only.append(real)
                gitdir = _gitdir_of(real) if os.path.isfile(real) else None
                if gitdir and _within(gitdir, ws) and gitdir != ws and os.path.isdir(gitdir):
                    read_only.append(gitdir)
            elif os.path.isfile(real):
                # A folder named .env is usually a virtualenv: it stays; files are hidden.
                secrets.append(real)
            elif is_dir:
                stack.append(entry.path)
    return WorkspaceGuards(sorted(set(read_only)), sorted(set(secrets)))


def _guards_for(guards: WorkspaceGuards, user: SandboxUser) -> WorkspaceGuards:
    """`guards` without what `user` cannot reach (bubblewrap, started as them, would fail)."""
    return WorkspaceGuards(
        reachable_only(guards.read_only, user), reachable_only(guards.secret_files, user)
    )


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
    visible_paths: Iterable[Path | str] = (),
    seccomp_fd: int | None = None,
    read_only_workspace: bool = False,
) -> list[str]:
    """Return the argv that runs `command` through a shell, confined when asked.

    Without a usable `confinement` this is `/bin/bash -c COMMAND`. `new_session` false keeps
    the caller's terminal as the controlling one (interactive sessions in their own pty).
    `env` must be the environment the argv is started with; it is not put on the command
    line (values there are visible to every user in `ps`), bwrap passes it on as it is.
    `visible_paths` are shown read-only although they lie in a hidden home (a policy named
    them). `read_only_workspace`: no policy allows a write, so the kernel refuses them all.
    `seccomp_fd`: the descriptor the filter can be read from when bwrap starts (see
    `reaper_argv(seccomp=...)`); None loads no filter.
    """
    inner = shell_argv(command)
    if confinement is None or not confinement.available:
        return inner
    if workspace is None:
        raise ValueError("a confined command needs its workspace")
    ws = _real(workspace)
    user = sandbox_user(ws)
    root_only = root_only_paths(ws, (env or {}).get("PATH", ""))
    # Folders replaced by an empty tmpfs: homes and host sockets (and, as root, what only
    # root may read), then the job's own folders.
    covered = _unique_dirs([*home_folders(), *SOCKET_FOLDERS, *root_only])
    hidden = [_real(p) for p in hidden_paths]
    hidden_dirs = [p for p in _unique_dirs(hidden) if p not in covered]
    files = [p for p in hidden if not os.path.isdir(p) and os.path.lexists(p)]
    files += system_secrets() + [p for p in root_only if not os.path.isdir(p)]
    guards = _guards_for(scan_workspace(ws), user)
    argv = [
        confinement.bwrap,
        *_identity(confinement.disable_userns, ws),
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
    around = sorted((p for p in covered + hidden_dirs if _within(ws, p)), key=len)
    for path in around:
        argv += ["--tmpfs", path]
    argv += ["--ro-bind" if read_only_workspace else "--bind", ws, ws]
    for path in covered:
        if path not in around:
            argv += ["--tmpfs", path]
    if network:
        # Name resolution may go through a file under /run (systemd-resolved); keep it.
        resolv = _real("/etc/resolv.conf")
        if any(_within(resolv, p) for p in covered) and os.path.isfile(resolv):
            argv += ["--ro-bind", resolv, resolv]
    for shown in visible_paths:
        real = _real(shown)
        in_covered = any(_within(real, p) for p in covered)
        if os.path.exists(real) and in_covered and reachable(real, user):
            argv += ["--ro-bind", real, real]
    for path in hidden_dirs:
        if path not in around:
            argv += ["--tmpfs", path]
    for path in guards.read_only:
        argv += ["--ro-bind", path, path]
    for path in [*files, *guards.secret_files]:
        if not _within(path, ws) and any(_within(path, d) for d in [*covered, *hidden_dirs]):
            continue  # already in an empty folder: a mount point would only show its name
        argv += ["--ro-bind", "/dev/null", path]
    # Empty and read-only, once every mount point inside them has been made.
    for path in dict.fromkeys([*around, *covered, *hidden_dirs]):
        argv += ["--remount-ro", path]
    argv += ["--unshare-all"]
    if network or not confinement.network_isolation:
        argv += ["--share-net"]
    argv += ["--die-with-parent"]
    if new_session:
        argv += ["--new-session"]
    if seccomp_fd is not None:
        argv += ["--seccomp", str(seccomp_fd)]
    # `env` is not written here: values on a command line are public (see the docstring).
    argv += ["--chdir", ws, "--", *inner]
    return argv
