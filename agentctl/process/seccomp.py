"""The seccomp filter bubblewrap loads into every confined command (`bwrap --seccomp FD`).

The filter is compiled by libseccomp (`libseccomp.so.2`, a dependency of apt and systemd, so
present on Debian and Ubuntu), called through ctypes: no Python package is needed. Where the
library is missing or refuses, `filter_program` returns None and confinement goes on without
a filter (the sandbox still has no capabilities, a user namespace and no_new_privs); the
probe reports it.

The filter allows every system call except those listed in `DENIED`, which fail with EPERM:
mounting and namespaces (there are no capabilities to use them anyway: defence in depth),
kernel modules, kexec, reboot, swap, the kernel keyring, bpf and perf, ptrace and other
processes' memory, userfaultfd, file handles (`open_by_handle_at` escapes a bind mount),
`clone` of a new user namespace (`clone3` answers ENOSYS, so the C library uses `clone`),
io_uring (it runs socket operations without the system calls filtered here), `AF_VSOCK`
sockets (they reach a VM's host without any network namespace), and the `TIOCSTI` and
`TIOCLINUX` ioctls (typing into a terminal). A call from another architecture's system call
table (32-bit `int 0x80` on x86-64) kills the process, as libseccomp does by default.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import threading

DENIED = (
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "chroot",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "unshare",
    "setns",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "syslog",
    "quotactl",
    "add_key",
    "request_key",
    "keyctl",
    "bpf",
    "perf_event_open",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "userfaultfd",
    "open_by_handle_at",
    "name_to_handle_at",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "iopl",
    "ioperm",
    "lookup_dcookie",
)
AF_VSOCK = 40
CLONE_NEWUSER = 0x10000000
TIOCSTI = 0x5412
TIOCLINUX = 0x541C

_SCMP_ACT_ALLOW = 0x7FFF0000
_SCMP_ACT_ERRNO = 0x00050000
_SCMP_CMP_EQ = 4
_SCMP_CMP_MASKED_EQ = 7


class _ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


_lock = threading.Lock()
_built: tuple[bytes | None, str] | None = None


def _library() -> ctypes.CDLL:
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    lib = ctypes.CDLL(name, use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_syscall_resolve_name.restype = ctypes.c_int
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.restype = ctypes.c_int
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(_ArgCmp),
    ]
    lib.seccomp_export_bpf.restype = ctypes.c_int
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return lib


def _compile() -> bytes:
    lib = _library()
    ctx = lib.seccomp_init(_SCMP_ACT_ALLOW)
    if not ctx:
        raise OSError("seccomp_init failed")
    deny = _SCMP_ACT_ERRNO | errno.EPERM
    try:

        def add(name: str, *conditions: tuple[int, int, int, int], action: int = deny) -> None:
            nr = lib.seccomp_syscall_resolve_name(name.encode())
            if nr < 0:
                return  # not a system call on this architecture (iopl on arm64, say)
            array = (_ArgCmp * max(len(conditions), 1))(*[_ArgCmp(*c) for c in conditions])
            rc = lib.seccomp_rule_add_array(ctx, action, nr, len(conditions), array)
            if rc < 0:
                raise OSError(-rc, f"seccomp rule for {name}: {os.strerror(-rc)}")

        for name in DENIED:
            add(name)
        # A new user namespace (where the caller would hold every capability again): clone
        # with CLONE_NEWUSER fails; clone3 hides its flags in memory, so it answers ENOSYS and
        # the C library falls back to clone.
        add("clone", (0, _SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER))
        add("clone3", action=_SCMP_ACT_ERRNO | errno.ENOSYS)
        add("socket", (0, _SCMP_CMP_EQ, AF_VSOCK, 0))
        add("socketpair", (0, _SCMP_CMP_EQ, AF_VSOCK, 0))
        # ioctl's request is an unsigned int: compare its low 32 bits only.
        add("ioctl", (1, _SCMP_CMP_MASKED_EQ, 0xFFFFFFFF, TIOCSTI))
        add("ioctl", (1, _SCMP_CMP_MASKED_EQ, 0xFFFFFFFF, TIOCLINUX))
        read_end, write_end = os.pipe()
        try:
            rc = lib.seccomp_export_bpf(ctx, write_end)
            os.close(write_end)
            write_end = -1
            if rc < 0:
                raise OSError(-rc, f"seccomp_export_bpf: {os.strerror(-rc)}")
            chunks = []
            while chunk := os.read(read_end, 65536):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(read_end)
            if write_end >= 0:
                os.close(write_end)
    finally:
        lib.seccomp_release(ctx)


def filter_program() -> tuple[bytes | None, str]:
    """The compiled filter (BPF, as bwrap's `--seccomp` reads it) and "", or None and why
    it is unavailable. Compiled once per process."""
    global _built
    with _lock:
        if _built is None:
            try:
                _built = (_compile(), "")
            except (OSError, AttributeError) as exc:
                _built = (None, f"no seccomp filter: libseccomp unusable ({exc})")
        return _built
