"""The bubblewrap command line of a confined command: what it sees, hides and may write.

`build_argv` wraps a shell command in bubblewrap (`agentctl.process.sandbox` says whether it
works here; `agentctl.process.confine` puts the reaper around it):

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
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from agentctl.process.sandbox import Confinement, SandboxSettings, identity_args
from agentctl.process.sandbox_user import (
    SandboxUser,
    reachable,
    reachable_only,
    root_only_paths,
    sandbox_user,
)
from agentctl.process.secret_links import is_secret_name, linked_secret_files

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


def _real(path: Path | str) -> str:
    return os.path.realpath(os.fspath(path))


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _unique_dirs(paths: Iterable[str]) -> list[str]:
    found: list[str] = []
    for path in paths:
        real = _real(path)
        if os.path.isdir(real) and real not in found:
            found.append(real)
    return found


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


@dataclass(frozen=True)
class _Hiding:
    """What a confined command must not see, and what it may read but not write."""

    user: SandboxUser  # who the command is: bubblewrap mounts only what they can reach
    covered: list[str]  # folders under an empty tmpfs: homes, host sockets, root-only ones
    hidden_dirs: list[str]  # the job's own folders (`hidden_paths`), unless covered already
    files: list[str]  # files under /dev/null: the job's, the host's secrets, root-only ones
    guards: WorkspaceGuards  # inside the workspace: `.git` and `.agentctl`, `.env*` files


def _hiding(ws: str, settings: SandboxSettings, search_path: str) -> _Hiding:
    user = sandbox_user(ws)
    root_only = root_only_paths(ws, search_path)
    # Folders replaced by an empty tmpfs: homes and host sockets (and, as root, what only
    # root may read), then the job's own folders.
    covered = _unique_dirs([*home_folders(), *SOCKET_FOLDERS, *root_only])
    hidden = [_real(p) for p in settings.hidden_paths]
    hidden_dirs = [p for p in _unique_dirs(hidden) if p not in covered]
    files = [p for p in hidden if not os.path.isdir(p) and os.path.lexists(p)]
    files += system_secrets() + [p for p in root_only if not os.path.isdir(p)]
    guards = _guards_for(scan_workspace(ws), user)
    return _Hiding(user, covered, hidden_dirs, files, guards)


def _mounts(ws: str, settings: SandboxSettings, hiding: _Hiding) -> list[str]:
    """The mount arguments after the read-only root, a private /tmp, /dev and /proc."""
    covered, hidden_dirs = hiding.covered, hiding.hidden_dirs
    argv: list[str] = []
    # Mounts apply in order: a hidden folder holding the workspace goes before the workspace
    # bind (the workspace stays usable), everything else after (it stays hidden).
    around = sorted((p for p in covered + hidden_dirs if _within(ws, p)), key=len)
    for path in around:
        argv += ["--tmpfs", path]
    argv += ["--ro-bind" if settings.read_only_workspace else "--bind", ws, ws]
    for path in covered:
        if path not in around:
            argv += ["--tmpfs", path]
    if settings.network:
        # Name resolution may go through a file under /run (systemd-resolved); keep it.
        resolv = _real("/etc/resolv.conf")
        if any(_within(resolv, p) for p in covered) and os.path.isfile(resolv):
            argv += ["--ro-bind", resolv, resolv]
    for shown in settings.visible_paths:
        real = _real(shown)
        in_covered = any(_within(real, p) for p in covered)
        if os.path.exists(real) and in_covered and reachable(real, hiding.user):
            argv += ["--ro-bind", real, real]
    for path in hidden_dirs:
        if path not in around:
            argv += ["--tmpfs", path]
    for path in hiding.guards.read_only:
        argv += ["--ro-bind", path, path]
    # Once each: a file hidden for two reasons (a host secret that is root-only) is one mount.
    for path in dict.fromkeys([*hiding.files, *hiding.guards.secret_files]):
        if not _within(path, ws) and any(_within(path, d) for d in [*covered, *hidden_dirs]):
            continue  # already in an empty folder: a mount point would only show its name
        argv += ["--ro-bind", "/dev/null", path]
    # Empty and read-only, once every mount point inside them has been made.
    for path in dict.fromkeys([*around, *covered, *hidden_dirs]):
        argv += ["--remount-ro", path]
    return argv


def build_argv(
    command: str,
    settings: SandboxSettings | None = None,
    *,
    workspace: Path | str | None = None,
    confinement: Confinement | None = None,
    env: Mapping[str, str] | None = None,
    new_session: bool = True,
    seccomp_fd: int | None = None,
) -> list[str]:
    """Return the argv that runs `command` through a shell, confined when asked.

    Without a usable `confinement` this is `/bin/bash -c COMMAND`; else bubblewrap as
    `settings` say (the network, hidden and visible paths, a read-only workspace).
    `new_session` false keeps the caller's terminal as the controlling one (interactive
    sessions in their own pty). `env` must be the environment the argv is started with; it
    is not put on the command line (values there are visible to every user in `ps`), bwrap
    passes it on as it is. `seccomp_fd`: the descriptor the filter can be read from when
    bwrap starts (see `reaper_argv(seccomp=...)`); None loads no filter.
    """
    inner = shell_argv(command)
    if confinement is None or not confinement.available:
        return inner
    if workspace is None:
        raise ValueError("a confined command needs its workspace")
    settings = settings or SandboxSettings()
    ws = _real(workspace)
    hiding = _hiding(ws, settings, (env or {}).get("PATH", ""))
    argv = [confinement.bwrap, *identity_args(confinement.disable_userns, ws)]
    argv += ["--ro-bind", "/", "/", "--tmpfs", "/tmp", "--dev", "/dev", "--proc", "/proc"]
    argv += _mounts(ws, settings, hiding)
    argv += ["--unshare-all"]
    if settings.network or not confinement.network_isolation:
        argv += ["--share-net"]
    argv += ["--die-with-parent"]
    if new_session:
        argv += ["--new-session"]
    if seccomp_fd is not None:
        argv += ["--seccomp", str(seccomp_fd)]
    # `env` is not written here: values on a command line are public (see the docstring).
    argv += ["--chdir", ws, "--", *inner]
    return argv
