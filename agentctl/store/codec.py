r"""How event data is stored, the same on every backend: compact JSON, with strings longer
than BLOB_THRESHOLD moved to content-addressed blobs (stored once however often they recur).

A file name that is not UTF-8 reaches Python with lone surrogates (surrogateescape: the byte
0xE9 of `caf\xe9.txt` is U+DCE9), which neither SQLite's nor PostgreSQL's text can hold. A
document holding one is written with JSON's `\uXXXX` escapes instead (ASCII, still valid
JSON), which `json.loads` turns back into the same string, so the name's bytes survive
(`os.fsencode`); blobs keep such strings with `surrogatepass`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from typing import Any

# Strings longer than this in event data live in `blobs`, stored once by content hash.
BLOB_THRESHOLD = 1024
BLOB_KEY = "$blob"


def dumps(value: Any) -> str:
    return storable_json(json.dumps(value, separators=(",", ":"), ensure_ascii=False), value)


def storable_json(text: str, value: Any) -> str:
    """`text` (the compact JSON of `value`), or its escaped form when it holds a lone
    surrogate: the database's text is UTF-8, and a lone surrogate has no UTF-8."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=True)
    return text


def blob_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def encode_data(data: dict[str, Any], encoded: str | None, put_blob: Callable[[bytes], str]) -> str:
    """The stored form of an event's data; `put_blob(bytes) -> digest` keeps a long string."""
    text = storable_json(encoded, data) if encoded is not None else dumps(data)
    # No string inside can exceed the threshold when the whole document does not.
    if len(text) <= BLOB_THRESHOLD:
        return text
    return dumps(_externalise(data, put_blob))


def _externalise(value: Any, put_blob: Callable[[bytes], str]) -> Any:
    if isinstance(value, str):
        if len(value) > BLOB_THRESHOLD:
            return {BLOB_KEY: put_blob(value.encode("utf-8", "surrogatepass"))}
        return value
    if isinstance(value, dict):
        return {k: _externalise(v, put_blob) for k, v in value.items()}
    if isinstance(value, list):
        return [_externalise(v, put_blob) for v in value]
    return value


def decode_data(text: str, get_blob: Callable[[str], bytes], cache: dict[str, str]) -> Any:
    """The event's data from its stored form (`cache` shares blobs across one read)."""
    decoded = json.loads(text)
    if BLOB_KEY in text:
        decoded = _internalise(decoded, get_blob, cache)
    return decoded


def _internalise(value: Any, get_blob: Callable[[str], bytes], cache: dict[str, str]) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and BLOB_KEY in value:
            digest = value[BLOB_KEY]
            if digest not in cache:
                cache[digest] = get_blob(digest).decode("utf-8", "surrogatepass")
            return cache[digest]
        return {k: _internalise(v, get_blob, cache) for k, v in value.items()}
    if isinstance(value, list):
        return [_internalise(v, get_blob, cache) for v in value]
    return value


def blob_refs(value: Any) -> Iterable[str]:
    """Every blob digest a decoded (still externalised) document names."""
    if isinstance(value, dict):
        if len(value) == 1 and BLOB_KEY in value:
            yield value[BLOB_KEY]
        else:
            for item in value.values():
                yield from blob_refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from blob_refs(item)
