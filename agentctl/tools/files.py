"""The file tools (read_file, write_file, edit_file, list_files) and workspace path checks.

Every path a model gives is resolved with `agentctl.workspace.resolve_in_workspace`: symlinks
followed and `..` collapsed, it must land inside the workspace. The file is then opened by
walking the resolved path from the workspace root one folder at a time with `O_NOFOLLOW`
(`open_in_workspace`), so a folder swapped for a symlink in between fails the open instead of
sending it outside. A file with more than one hard link is refused: its other name may be
outside. Writes to a repository's `.git` or to `.agentctl` are refused (a hook or
`core.fsmonitor` planted there runs later, outside any sandbox).
"""

from __future__ import annotations

import errno
import fnmatch
import os
import stat
from pathlib import Path
from typing import Any, BinaryIO

from agentctl.changes.workspace_files import Unreachable, open_parent
from agentctl.process.run import CappedBuffer
from agentctl.tools.base import ToolContext, ToolResult, ToolSpec, Touches
from agentctl.tools.function import (
    FunctionTool,
    build_object_schema,
    describe_param,
    fail,
    make_tool_error,
)
from agentctl.visible import make_visible
from agentctl.workspace import real_root, resolve_in_workspace

MAX_LIST_ENTRIES = 2000
# Bytes sniffed for a NUL to call a file binary (the same heuristic git and grep use).
BINARY_SNIFF = 8192
# Longest piece of one line read at a time, so a file without newlines is still streamed.
LINE_PIECE = 1 << 20
SKIPPED_DIRS = {".git"}
# Folders whose files the file tools never write: what is planted there runs later.
PROTECTED_DIRS = (".git", ".agentctl")


def show_path(workspace: Path, resolved: Path) -> str:
    """Return the workspace-relative form of a resolved path, as the model should use it."""
    rel = os.path.relpath(resolved, real_root(os.fspath(workspace)))
    return "." if rel == "." else rel


def _relative(workspace: Path, resolved: Path) -> str:
    return resolved.relative_to(real_root(os.fspath(workspace))).as_posix()


def open_in_workspace(workspace: Path, path: str, *, write: bool = False) -> tuple[int, Path]:
    """Open `path` (resolved in the workspace) without following any symlink on the way:
    read-only, or for writing (created, not truncated, parents made). Returns (fd, resolved).

    Raises ToolError for a path outside, a folder, a file with several hard links, or a path
    changed into a symlink since it was resolved.
    """
    resolved = resolve_in_workspace(workspace, path)
    rel = _relative(workspace, resolved)
    if rel == ".":
        raise _not_a_file(path, write)
    if write and any(part in PROTECTED_DIRS for part in rel.split("/")):
        raise make_tool_error(
            f"{path} is inside {'/'.join(p for p in rel.split('/') if p in PROTECTED_DIRS)}: "
            "the file tools never write there (hooks and config planted there run later)",
            "protected_path",
        )
    try:
        parent, name = open_parent(real_root(os.fspath(workspace)), rel, create=write)
    except Unreachable as exc:
        if not write and "missing" in str(exc):
            raise make_tool_error(f"no such file: {path}", "not_found") from exc
        root = real_root(os.fspath(workspace))
        parts = rel.split("/")[:-1]
        if any(os.path.islink(root.joinpath(*parts[: i + 1])) for i in range(len(parts))):
            raise make_tool_error(
                f"{path}: a folder on its way is now a symlink; not touched", "bad_path"
            ) from exc
        raise make_tool_error(f"{path}: a folder on its way is not a folder", "os_error") from exc
    flags = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    flags |= (os.O_WRONLY | os.O_CREAT) if write else os.O_RDONLY
    try:
        fd = os.open(name, flags, 0o644, dir_fd=parent)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise make_tool_error(f"{path} is a symlink now; not touched", "bad_path") from exc
        if exc.errno == errno.ENOENT:
            raise make_tool_error(f"no such file: {path}", "not_found") from exc
        if exc.errno == errno.EISDIR:
            raise _not_a_file(path, write) from exc
        raise
    finally:
        os.close(parent)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise _not_a_file(path, write)
        if not stat.S_ISREG(st.st_mode):
            raise make_tool_error(f"not a regular file: {path}", "not_a_file")
        if st.st_nlink > 1:
            raise make_tool_error(
                f"{path} has {st.st_nlink} hard links (another name of it may be outside the "
                "workspace); not touched",
                "hard_link",
            )
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd, resolved


def _not_a_file(path: str, write: bool) -> Exception:
    if write:
        return make_tool_error(f"{path} is a directory", "is_a_directory")
    return make_tool_error(f"not a regular file: {path}", "not_a_file")


def _open_file(workspace: Path, path: str) -> BinaryIO:
    """A binary reader of a workspace file, opened safely (see `open_in_workspace`)."""
    fd, _ = open_in_workspace(workspace, path)
    return os.fdopen(fd, "rb")


def _read_text(workspace: Path, path: str) -> str:
    """Return a file's whole text for editing; raise ToolError unless it is UTF-8 text."""
    with _open_file(workspace, path) as f:
        data = f.read()
    if b"\0" in data[:BINARY_SNIFF]:
        raise make_tool_error(f"{path} is a binary file ({len(data)} bytes)", "binary_file")
    try:
        text: str = data.decode("utf-8")
        return text
    except UnicodeDecodeError as exc:
        raise make_tool_error(f"{path} is not UTF-8 text: {exc.reason}", "not_text") from exc


def write_in_workspace(workspace: Path, path: str, data: bytes) -> Path:
    """Write `data` to `path` inside the workspace, creating parent directories."""
    fd, resolved = open_in_workspace(workspace, path, write=True)
    with os.fdopen(fd, "wb") as f:
        os.ftruncate(fd, 0)
        f.write(data)
    return resolved


def read_file(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    path = args["path"]
    first = args.get("offset", 1)
    limit = args.get("limit")
    last = None if limit is None else first + limit - 1
    buffer = CappedBuffer(ctx.output_cap)
    line_no, ended_line, more = 1, True, False
    with _open_file(ctx.workspace, path) as f:
        if b"\0" in f.read(BINARY_SNIFF):
            size = os.fstat(f.fileno()).st_size
            return ToolResult(ok=True, output=f"{path} is a binary file ({size} bytes); not shown")
        f.seek(0)
        # Streamed by bounded pieces so a huge file costs bounded memory.
        while piece := f.readline(LINE_PIECE):
            if last is not None and line_no > last:
                more = True  # no need to read (or count) the rest
                break
            if first <= line_no:
                buffer.add(piece)
            ended_line = piece.endswith(b"\n")
            if ended_line:
                line_no += 1
    text, truncated = buffer.text()
    if more and last is not None:
        text += f"\n[... file continues; read on with offset={last + 1}]"
    elif buffer.total == 0:
        lines = line_no - 1 if ended_line else line_no
        text = f"[{path} is empty]" if lines == 0 else f"[{path} has only {lines} lines]"
    return ToolResult(ok=True, output=text, truncated=truncated)


def write_file(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    # errors="replace": JSON can carry lone surrogates, which UTF-8 cannot encode.
    data = args["content"].encode("utf-8", errors="replace")
    resolved = write_in_workspace(ctx.workspace, args["path"], data)
    return ToolResult(
        ok=True, output=f"wrote {len(data)} bytes to {show_path(ctx.workspace, resolved)}"
    )


def edit_file(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    path, old, new = args["path"], args["old"], args["new"]
    if old == "":
        return fail("argument 'old' must not be empty", "bad_args")
    text = _read_text(ctx.workspace, path)
    count = text.count(old)
    if count == 0:
        return fail(
            f"'old' text not found in {path} (0 matches); read the file and copy it exactly",
            "no_match",
        )
    if count > 1:
        return fail(
            f"'old' text occurs {count} times in {path}; include more surrounding lines so it occurs once",
            "ambiguous_match",
        )
    at = text.index(old)
    line = text.count("\n", 0, at) + 1
    write_in_workspace(
        ctx.workspace, path, text.replace(old, new, 1).encode("utf-8", errors="replace")
    )
    return ToolResult(ok=True, output=f"replaced 1 occurrence in {path} at line {line}")


def _matches(rel: str, pattern: str | None) -> bool:
    if pattern is None:
        return True
    return fnmatch.fnmatchcase(rel, pattern) or fnmatch.fnmatchcase(os.path.basename(rel), pattern)


def _collect_entries(
    root: Path, workspace: Path, recursive: bool, pattern: str | None
) -> list[str]:
    """Return workspace-relative entries under `root`; directories end with '/'."""
    entries: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in SKIPPED_DIRS]
        base = Path(dirpath)
        names = [n for n in filenames if n not in SKIPPED_DIRS]
        # Recursive listings show files only (directories are implied by the paths); a flat
        # listing must show subdirectories or they would be invisible.
        if not recursive:
            names += [d + "/" for d in dirnames]
        else:
            # A symlinked directory is not descended into, but it exists: show it.
            names += [d for d in dirnames if (base / d).is_symlink()]
        for name in names:
            rel = show_path(workspace, base / name.rstrip("/")) + (
                "/" if name.endswith("/") else ""
            )
            if _matches(rel.rstrip("/"), pattern):
                entries.append(rel)
        if not recursive:
            break
    return sorted(entries)


def list_files(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    path = args.get("path", ".")
    root = resolve_in_workspace(ctx.workspace, path)
    if not root.exists():
        return fail(f"no such directory: {path}", "not_found")
    if not root.is_dir():
        return fail(f"not a directory: {path}", "not_a_directory")
    entries = _collect_entries(
        root, Path(ctx.workspace), args.get("recursive", True), args.get("pattern")
    )
    if not entries:
        return ToolResult(ok=True, output="(no matching files)")
    # A name that is not UTF-8 (lone surrogates, by surrogateescape) is shown with `\xNN`
    # for its bytes: a model's request cannot carry the raw bytes, nor can the store.
    shown = [make_visible(entry) for entry in entries[:MAX_LIST_ENTRIES]]
    output = "\n".join(shown)
    truncated = len(entries) > len(shown)
    if truncated:
        output += f"\n[... {len(entries) - len(shown)} more entries; narrow with path or pattern]"
    return ToolResult(ok=True, output=output, truncated=truncated)


def _path_param() -> dict[str, Any]:
    return describe_param("string", "File path, relative to the workspace root.")


def _read_file_tool() -> FunctionTool:
    return FunctionTool(
        ToolSpec(
            "read_file",
            "Read a UTF-8 text file in the workspace; optionally only `limit` lines from line `offset` (1-based).",
            build_object_schema(
                {
                    "path": _path_param(),
                    "offset": describe_param(
                        "integer", "First line to return, 1-based.", minimum=1, default=1
                    ),
                    "limit": describe_param(
                        "integer", "Maximum number of lines to return.", minimum=1
                    ),
                },
                ["path"],
            ),
            read_only=True,
            touches=Touches(path="path"),
        ),
        read_file,
    )


def _write_file_tool() -> FunctionTool:
    return FunctionTool(
        ToolSpec(
            "write_file",
            "Create or overwrite a file in the workspace with `content`, creating parent directories.",
            build_object_schema(
                {
                    "path": _path_param(),
                    "content": describe_param("string", "The complete new file content."),
                },
                ["path", "content"],
            ),
            read_only=False,
            touches=Touches(path="path", writes=True),
        ),
        write_file,
    )


def _edit_file_tool() -> FunctionTool:
    return FunctionTool(
        ToolSpec(
            "edit_file",
            "Replace the text `old` with `new` in a workspace file; `old` must occur exactly once.",
            build_object_schema(
                {
                    "path": _path_param(),
                    "old": describe_param(
                        "string", "Exact text to replace, with enough context to be unique."
                    ),
                    "new": describe_param("string", "Replacement text."),
                },
                ["path", "old", "new"],
            ),
            read_only=False,
            touches=Touches(path="path", writes=True),
        ),
        edit_file,
    )


def _list_files_tool() -> FunctionTool:
    return FunctionTool(
        ToolSpec(
            "list_files",
            "List files under a workspace directory (sorted, relative to the workspace, skipping .git).",
            build_object_schema(
                {
                    "path": describe_param(
                        "string",
                        "Directory to list, relative to the workspace root.",
                        default=".",
                    ),
                    "recursive": describe_param(
                        "boolean", "Descend into subdirectories.", default=True
                    ),
                    "pattern": describe_param(
                        "string", "Glob matched against the path or file name, e.g. '*.py'."
                    ),
                },
                [],
            ),
            read_only=True,
            touches=Touches(path="path", default_path="."),
        ),
        list_files,
    )


def build_file_tools() -> dict[str, FunctionTool]:
    tools = [_read_file_tool(), _write_file_tool(), _edit_file_tool(), _list_files_tool()]
    return {tool.spec.name: tool for tool in tools}
