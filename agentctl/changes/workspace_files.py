"""Reading and writing workspace paths for rollback without ever leaving the workspace.

Every path is reached from the workspace root one directory at a time with O_NOFOLLOW, so a
symlink planted anywhere along a path (after the job ran, say) can redirect neither a read nor
a write outside the workspace. Files are put back by writing beside them and renaming over,
so a symlink at the path itself is replaced, never written through.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC


class Unreachable(Exception):
    """A path's parent is a symlink or a file: it cannot be reached safely."""


class ParentMissing(Unreachable):
    """A path's parent directory does not exist (so neither does the path)."""


def split_rel(rel: str) -> list[str]:
    parts = rel.split("/")
    if not rel or "\0" in rel or rel.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise Unreachable(f"not a plain workspace-relative path: {rel!r}")
    return parts


def open_parent(root: Path, rel: str, *, create: bool = False) -> tuple[int, str]:
    """A descriptor of `rel`'s directory, walked to from `root` without following any symlink
    (creating missing directories if `create`), and `rel`'s last name. Close the descriptor."""
    parts = split_rel(rel)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for name in parts[:-1]:
            try:
                next_fd = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise ParentMissing(f"{rel}: a parent directory is missing") from None
                os.mkdir(name, 0o755, dir_fd=fd)
                next_fd = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError as error:
                raise Unreachable(
                    f"{rel}: a parent directory is now a symlink or a file"
                ) from error
            os.close(fd)
            fd = next_fd
    except BaseException:
        os.close(fd)
        raise
    return fd, parts[-1]


@dataclass
class Current:
    """What is at a path now: kind is file, link, dir or other."""

    kind: str
    mode: int
    size: int
    sha256: str | None


def read_current(root: Path, rel: str, *, hash_content: bool = True) -> Current | None:
    """The state at `rel` now (None when nothing is there); raises Unreachable."""
    try:
        fd, name = open_parent(root, rel)
    except ParentMissing:
        return None
    try:
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(name, dir_fd=fd)
            return Current(
                "link", st.st_mode, st.st_size, hashlib.sha256(os.fsencode(target)).hexdigest()
            )
        if stat.S_ISDIR(st.st_mode):
            return Current("dir", st.st_mode, 0, None)
        if not stat.S_ISREG(st.st_mode):
            return Current("other", st.st_mode, st.st_size, None)
        digest = None
        if hash_content:
            sha = hashlib.sha256()
            with os.fdopen(os.open(name, _READ_FLAGS, dir_fd=fd), "rb") as f:
                while chunk := f.read(1 << 20):
                    sha.update(chunk)
            digest = sha.hexdigest()
        return Current("file", st.st_mode, st.st_size, digest)
    finally:
        os.close(fd)


def write_file_at(
    root: Path, rel: str, *, mode: int, data: bytes | None = None, link: str | None = None
) -> None:
    """Put a file (or symlink) at `rel` atomically: written beside it, then renamed over it,
    so an existing symlink there is replaced, never written through."""
    fd, name = open_parent(root, rel, create=True)
    temp = f".{name}.agentctl-{secrets.token_hex(4)}"
    try:
        if link is not None:
            os.symlink(link, temp, dir_fd=fd)
        else:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            out = os.open(temp, flags, 0o600, dir_fd=fd)
            with os.fdopen(out, "wb") as f:
                f.write(data or b"")
                os.fchmod(f.fileno(), stat.S_IMODE(mode))  # exactly, whatever the umask
        try:
            os.replace(temp, name, src_dir_fd=fd, dst_dir_fd=fd)
        except OSError:
            os.unlink(temp, dir_fd=fd)
            raise
    finally:
        os.close(fd)


def remove_at(root: Path, rel: str, *, directory: bool = False) -> bool:
    """Remove the file, symlink (itself, not its target) or empty directory at `rel`."""
    fd, name = open_parent(root, rel)
    try:
        if directory:
            os.rmdir(name, dir_fd=fd)
        else:
            os.unlink(name, dir_fd=fd)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
