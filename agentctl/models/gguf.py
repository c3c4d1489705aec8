"""Reading a GGUF file's header: its metadata keys (the model's name, architecture, context
length, chat template) without loading the weights or importing any runtime.

The format (llama.cpp's gguf.md): the magic `GGUF`, a uint32 version (2 or 3), uint64 counts
of tensors and of metadata pairs, then each pair as a string key, a uint32 value type and the
value; all little-endian. Only the header is read, and values nobody asked for (the
tokenizer's vocabulary: tens of thousands of strings) are skipped, so a look costs
milliseconds whatever the file's size.
"""

from __future__ import annotations

import struct
from collections.abc import Collection
from pathlib import Path
from typing import BinaryIO

MAGIC = b"GGUF"
# Value types: fixed-size scalars by their struct format, then string (8) and array (9).
_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9
# A header bigger than this is not a model's: refuse rather than read gigabytes of "keys".
_MAX_STRING = 64 * 1024 * 1024
_MAX_PAIRS = 1_000_000
Value = str | int | float | bool | None


class GGUFError(ValueError):
    """The file is not a GGUF model (or its header is cut short)."""


def _read(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise GGUFError("the header ends early (the file is cut short)")
    return data


def _unpack(f: BinaryIO, fmt: str) -> int | float | bool:
    value: int | float | bool = struct.unpack(fmt, _read(f, struct.calcsize(fmt)))[0]
    return value


def _string(f: BinaryIO, keep: bool) -> str | None:
    n = int(_unpack(f, "<Q"))
    if n > _MAX_STRING:
        raise GGUFError(f"a string of {n} bytes in the header")
    if not keep:
        f.seek(n, 1)
        return None
    return _read(f, n).decode("utf-8", errors="replace")


def _value(f: BinaryIO, kind: int, keep: bool) -> Value:
    """One value of type `kind`; arrays are skipped (None): no key agentctl reads is one."""
    if kind in _SCALARS:
        fmt = _SCALARS[kind]
        if not keep:
            f.seek(struct.calcsize(fmt), 1)
            return None
        return _unpack(f, fmt)
    if kind == _STRING:
        return _string(f, keep)
    if kind == _ARRAY:
        item, count = int(_unpack(f, "<I")), int(_unpack(f, "<Q"))
        if item in _SCALARS:
            f.seek(struct.calcsize(_SCALARS[item]) * count, 1)
        else:
            for _ in range(count):
                _value(f, item, False)
        return None
    raise GGUFError(f"unknown value type {kind} in the header")


def read_metadata(path: Path, keys: Collection[str] | None = None) -> dict[str, Value]:
    """The header's metadata pairs (only `keys` when given; arrays are left out). Raises
    GGUFError for a file that is not GGUF, OSError when it cannot be read."""
    with open(path, "rb") as f:
        if f.read(4) != MAGIC:
            raise GGUFError("not a GGUF file (it does not start with 'GGUF')")
        version = int(_unpack(f, "<I"))
        if version not in (2, 3):
            raise GGUFError(f"GGUF version {version} (agentctl reads versions 2 and 3)")
        _unpack(f, "<Q")  # tensor count
        pairs = int(_unpack(f, "<Q"))
        if pairs > _MAX_PAIRS:
            raise GGUFError(f"{pairs} metadata pairs in the header")
        found: dict[str, Value] = {}
        for _ in range(pairs):
            key = _string(f, True) or ""
            kind = int(_unpack(f, "<I"))
            wanted = keys is None or key in keys
            value = _value(f, kind, wanted)
            if wanted and kind != _ARRAY:
                found[key] = value
            if keys is not None and len(found) == len(keys):
                break
        return found
