"""What MCP servers say back, as agentctl shows it: a call's result as a ToolResult (text
kept; images, audio and binary summarised; capped like a shell tool's output), a failure with
the tail of the server's stderr, an SDK error in one line, and the bounded stderr tail of a
stdio server. Nothing here imports the MCP SDK; `mcp_client` holds the servers."""

from __future__ import annotations

import base64
import json
import os
import threading
from collections import deque
from typing import Any

from agentctl.process.run import join_capped
from agentctl.tools.base import ToolResult

STDERR_TAIL = 4096


class StderrTail:
    """A pipe for a server's stderr, read by a thread that keeps only the last bytes."""

    def __init__(self, limit: int = STDERR_TAIL):
        read_fd, write_fd = os.pipe()
        self.writer = os.fdopen(write_fd, "w")
        self._reader = os.fdopen(read_fd, "rb", buffering=0)
        self._tail: deque[bytes] = deque()
        self._size = 0
        self._limit = limit
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True, name="mcp-stderr").start()

    def _read(self) -> None:
        try:
            while chunk := self._reader.read(65536):
                with self._lock:
                    self._tail.append(chunk)
                    self._size += len(chunk)
                    while self._size - len(self._tail[0]) >= self._limit:
                        self._size -= len(self._tail.popleft())
        except OSError:
            pass
        finally:
            self._reader.close()

    def text(self) -> str:
        with self._lock:
            data = b"".join(self._tail)[-self._limit :]
        return data.decode("utf-8", "replace").strip()

    def close(self) -> None:
        try:
            self.writer.close()
        except OSError:
            pass


def _leaves(error: BaseException) -> list[BaseException]:
    inner = getattr(error, "exceptions", None)
    if isinstance(inner, tuple | list) and inner:
        return [leaf for e in inner for leaf in _leaves(e)]
    return [error]


def describe_error(error: BaseException) -> str:
    leaves = _leaves(error)
    return "; ".join(f"{type(e).__name__}: {e}".rstrip(": ") for e in leaves[:3])


def indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def fail(message: str, error: str, stderr: StderrTail | None) -> ToolResult:
    """A failed call; a crashed or absent server's stderr tail says why."""
    tail = stderr.text() if stderr is not None else ""
    if tail and error in ("crashed", "server_down"):
        message += "\nits stderr ends with:\n" + indent(tail[-1000:])
    return ToolResult(ok=False, output=message, error=error)


def _size_of(data: str) -> int:
    try:
        return len(base64.b64decode(data, validate=False))
    except ValueError:
        return len(data)


def format_result(result: Any, cap: int) -> ToolResult:
    """A CallToolResult as text: text kept, images, audio and binary summarised, capped."""
    parts: list[str] = []
    for block in result.content or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind in ("image", "audio"):
            parts.append(
                f"[{kind} {block.mime_type}, {_size_of(block.data)} bytes: not shown to the model]"
            )
        elif kind == "resource":
            resource = block.resource
            text = getattr(resource, "text", None)
            if text is not None:
                parts.append(f"[resource {resource.uri}]\n{text}")
            else:
                parts.append(
                    f"[binary resource {resource.uri} ({resource.mime_type or 'unknown type'}),"
                    f" {_size_of(getattr(resource, 'blob', ''))} bytes: not shown to the model]"
                )
        elif kind == "resource_link":
            parts.append(f"[resource link {block.uri}: {block.name}]")
        else:
            parts.append(f"[{kind or 'unknown'} content: not shown]")
    if not parts and getattr(result, "structured_content", None) is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    data = "\n".join(parts).encode("utf-8", "replace")
    if len(data) <= cap:
        text, truncated = data.decode("utf-8", "replace"), False
    else:
        text, truncated = join_capped(data[:cap], data[-cap:], len(data), cap)
    if result.is_error:
        return ToolResult(ok=False, output=text, truncated=truncated, error="tool_error")
    return ToolResult(ok=True, output=text, truncated=truncated)
