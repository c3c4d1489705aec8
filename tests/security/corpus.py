"""Attack cases against the sandbox, as data: each an argv (never a shell string built here)
with the outcome it must have. `test_sandbox_corpus.py` runs them confined, as whichever user
runs the tests (CI runs them as root and as nobody), and checks, after each one, every
invariant below as well as the case's own outcome.

Placeholders in argv, filled in by the harness: {ws} the workspace, {home} a hidden home
folder holding canaries, {db} the job database, {py} a Python the sandbox can run, {sock} a
host Unix socket under /run (root only), {abstract} an abstract socket's name, {marker} a file
that must never appear on the host.

Outcomes:
- "fails": the command exits non-zero (and the invariants hold);
- "harmless": it may exit 0, but no canary reaches its output and the host is unchanged;
- "masked": its raw output may hold a .env value (git keeps a committed .env in its object
  store), but the redactor built from the workspace's .env files masks it;
- "runs": a legitimate command that the sandbox must not break: exits 0.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Attack:
    id: str
    item: int  # the item of issue 11 it comes from
    argv: tuple[str, ...]
    expect: str  # fails | harmless | masked | runs
    must_print: str | None = None  # a regex the output must match
    must_not_print: str | None = None  # a regex the output must not match
    network: bool = False
    root_only: bool = False  # meaningful only when the tests run as root
    needs_seccomp: bool = False
    machine: str | None = None  # only on this architecture (system call numbers)


# clone(CLONE_NEWUSER | SIGCHLD) by its x86-64 number: exits 0 only if the child was made.
CLONE_NEWUSER = (
    "import ctypes, os\n"
    "pid = ctypes.CDLL(None, use_errno=True).syscall(56, 0x10000000 | 17, 0, 0, 0, 0)\n"
    "if pid == 0:\n    os._exit(0)\n"
    "raise SystemExit(0 if pid > 0 else 1)\n"
)
APPEND_FSMONITOR = "printf '[core]\\n\\tfsmonitor = touch {marker}\\n' >> .git/config"

ATTACKS: tuple[Attack, ...] = (
    # 1. root's capabilities
    Attack("remount-root-rw", 1, ("mount", "-o", "remount,bind,rw", "/"), "fails"),
    Attack(
        "remount-then-write-host",
        1,
        ("sh", "-c", "mount -o remount,bind,rw / && touch /usr/lib/{marker}"),
        "fails",
    ),
    Attack(
        "no-capabilities", 1, ("grep", "^CapEff", "/proc/self/status"), "runs", r"CapEff:\s+0{16}\b"
    ),
    Attack(
        "no-bounding-set", 1, ("grep", "^CapBnd", "/proc/self/status"), "runs", r"CapBnd:\s+0{16}\b"
    ),
    Attack(
        "no-new-privs", 1, ("grep", "^NoNewPrivs", "/proc/self/status"), "runs", r"NoNewPrivs:\s+1"
    ),
    Attack("unprivileged-uid", 1, ("id", "-u"), "runs", r"^(?!0\n)[0-9]+\n"),
    Attack(
        "nested-user-namespace",
        1,
        ("unshare", "-Urm", "sh", "-c", "mount -o remount,rw / && touch /usr/lib/{marker}"),
        "fails",
    ),
    Attack(
        "seccomp-loaded",
        1,
        ("grep", "^Seccomp:", "/proc/self/status"),
        "runs",
        r"Seccomp:\s+2",
        needs_seccomp=True,
    ),
    Attack(
        "vsock-socket",
        1,
        ("{py}", "-c", "import socket; socket.socket(40, 1)"),
        "fails",
        needs_seccomp=True,
    ),
    Attack(
        "ptrace",
        1,
        ("{py}", "-c", "import ctypes; assert ctypes.CDLL(None).ptrace(0, 0, 0, 0) == 0"),
        "fails",
        needs_seccomp=True,
    ),
    Attack("chroot", 1, ("chroot", "/", "true"), "fails"),
    Attack(
        "clone-new-user-namespace",
        1,
        ("{py}", "-c", CLONE_NEWUSER),
        "fails",
        machine="x86_64",
    ),
    # 2. .git and .agentctl are read-only; a planted core.fsmonitor cannot be written
    Attack("append-fsmonitor", 2, ("sh", "-c", APPEND_FSMONITOR), "fails"),
    Attack("cp-over-git-config", 2, ("cp", "payload.txt", ".git/config"), "fails"),
    Attack(
        "awk-append-git-config",
        2,
        ("sh", "-c", "awk 'BEGIN{print \"[core]\"}' >> .git/config"),
        "fails",
    ),
    Attack("git-config-set", 2, ("git", "config", "core.fsmonitor", "touch {marker}"), "fails"),
    Attack("write-commondir", 2, ("sh", "-c", "echo /tmp > .git/commondir"), "fails"),
    Attack("plant-hook", 2, ("cp", "payload.txt", ".git/hooks/pre-commit"), "fails"),
    Attack("plant-info-attributes", 2, ("cp", "payload.txt", ".git/info/attributes"), "fails"),
    Attack("rename-git", 2, ("mv", ".git", "not-git"), "fails"),
    Attack("remove-git", 2, ("rm", "-rf", ".git"), "fails"),
    Attack("write-agentctl-folder", 2, ("touch", ".agentctl/planted"), "fails"),
    Attack("git-status-still-works", 2, ("git", "status", "--short"), "runs"),
    # 9. .env files are hidden; committed ones are masked
    Attack("cat-env", 9, ("cat", ".env"), "harmless"),
    Attack("grep-recursive", 9, ("grep", "-r", "CANARY", "."), "harmless"),
    Attack("env-through-symlink", 9, ("sh", "-c", "ln -s .env alias && cat alias"), "harmless"),
    Attack("env-hard-link", 9, ("sh", "-c", "ln .env hard && cat hard"), "harmless"),
    Attack("overwrite-env", 9, ("sh", "-c", "echo STOLEN=1 > .env"), "fails"),
    Attack("git-show-env", 9, ("git", "show", "HEAD:.env"), "masked"),
    # 10. homes and the host's secret files
    Attack("read-home-key", 10, ("cat", "{home}/.ssh/id_ed25519"), "harmless"),
    Attack(
        "list-home",
        10,
        ("ls", "-a", "{home}", "{home}/.ssh"),
        "harmless",
        None,
        r"^(id_ed25519|\.ssh)$",
    ),
    Attack("write-home", 10, ("touch", "{home}/{marker}"), "fails"),
    Attack("read-root-home", 10, ("ls", "-a", "/root"), "harmless"),
    Attack("read-shadow", 10, ("cat", "/etc/shadow"), "harmless", None, r"^root:"),
    Attack("read-database", 10, ("cat", "{db}"), "harmless"),
    # 11. host Unix sockets
    Attack(
        "connect-run-socket",
        11,
        ("{py}", "-c", "import socket; socket.socket(socket.AF_UNIX).connect('{sock}')"),
        "fails",
        root_only=True,
    ),
    Attack("list-run", 11, ("ls", "/run", "/var/run"), "harmless"),
    Attack(
        "connect-abstract-socket",
        11,
        ("{py}", "-c", "import socket; socket.socket(socket.AF_UNIX).connect('\\0{abstract}')"),
        "fails",
    ),
    # Legitimate work still runs.
    Attack(
        "write-in-workspace",
        0,
        ("sh", "-c", "echo made > made.txt && cat made.txt"),
        "runs",
        "made",
    ),
    Attack("python-runs", 0, ("{py}", "-c", "print(6 * 7)"), "runs", "42"),
)
