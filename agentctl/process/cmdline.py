"""This process's own command line as other users see it (`ps`, /proc/PID/cmdline).

`--db postgresql://user:PASS@host/db` puts a password where every user of the machine can read
it for as long as the process runs. At start-up agentctl rewrites the memory the kernel shows
as its command line (Linux: the argv area between `arg_start` and `arg_end` of
/proc/self/stat), with the password replaced by `***`; Python's own copy (`sys.argv`) keeps
the real value, so the option still works. The few milliseconds between exec and this rewrite
stay visible, hence the warning that points to the places a password belongs.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Sequence
from urllib.parse import urlsplit

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
WARNING = (
    "warning: --db holds a password, which other users of this machine can read in `ps`"
    " while agentctl starts; set the URL in AGENTCTL_DB instead, or keep the password in"
    " ~/.pgpass (PGPASSFILE) or a service file (PGSERVICEFILE)"
)


def mask_url_password(url: str) -> str | None:
    """The URL with its password as `***`, or None when it is no PostgreSQL URL with one."""
    if not url.startswith(POSTGRES_SCHEMES):
        return None
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return None
    if not password:
        return None
    userinfo, _, hostinfo = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return parts._replace(netloc=f"{user}:***@{hostinfo}").geturl()


def masked_db_args(argv: Sequence[str]) -> dict[int, str]:
    """{index: masked text} for each `--db URL` / `--db=URL` of `argv` that holds a password
    (up to `--`, after which arguments belong to a tool)."""
    masked: dict[int, str] = {}
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg.startswith("--db="):
            hidden = mask_url_password(arg[len("--db=") :])
            if hidden is not None:
                masked[i] = "--db=" + hidden
        elif arg == "--db" and i + 1 < len(argv):
            hidden = mask_url_password(argv[i + 1])
            if hidden is not None:
                masked[i + 1] = hidden
    return masked


def hide_db_passwords(argv: Sequence[str]) -> str | None:
    """Hide every `--db` password of this process's command line; the warning to print when
    there was one (None when there was none)."""
    if not masked_db_args(argv):
        return None
    _rewrite_own_cmdline()
    return WARNING


def _rewrite_own_cmdline() -> bool:
    """Rewrite /proc/self/cmdline with the passwords masked; whether it worked (Linux only)."""
    try:
        with open("/proc/self/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
        with open("/proc/self/cmdline", "rb") as f:
            shown = f.read()
    except OSError:
        return False
    fields = stat[stat.rfind(")") + 2 :].split()
    if len(fields) < 47:
        return False
    arg_start, arg_end = int(fields[45]), int(fields[46])  # fields 48 and 49 of the file
    if arg_end - arg_start != len(shown) or not shown.endswith(b"\0"):
        return False  # someone rewrote it already (setproctitle): leave it alone
    args = [os.fsdecode(arg) for arg in shown[:-1].split(b"\0")]
    for i, text in masked_db_args(args).items():
        args[i] = text
    new = b"\0".join(os.fsencode(arg) for arg in args) + b"\0"
    if len(new) > len(shown):
        return False
    # The area keeps its length (the kernel shows it whole); NULs after the last argument.
    ctypes.memmove(arg_start, new.ljust(len(shown), b"\0"), len(shown))
    with open("/proc/self/cmdline", "rb") as f:
        return f.read().rstrip(b"\0") == new.rstrip(b"\0")
