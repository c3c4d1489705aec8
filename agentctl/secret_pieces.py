"""The pieces of secret values that masking looks for (see `agentctl.redact`).

A value cut into parts (`cut -c1-18`, then `cut -c19-60`) or encoded (`base64`, `xxd -p`)
would pass a mask that only knows the whole value. So every run of `PIECE` (8) bytes of a
secret value's UTF-8 is masked ("windows"), and so is every such run of its base64
(standard and URL-safe, at each of the three byte alignments a value can have inside a
longer text) and hex (lower and upper case) forms.

Finding them costs no regex: each window is an 8-byte machine word, and every run of 8 bytes
of a text holds a 4-byte block that starts at a multiple of 4. So the text's UTF-8 is read
once as 4-byte words (`memoryview.cast`, in C) and checked against the set of the windows'
4-byte blocks; only when one is there (rare in ordinary text; hex ids share blocks with hex
secrets) is it read as 8-byte words at each of the 8 alignments and intersected with the
windows, and `bytes.find` places the windows found. `bench/masking.py` measures it against a trie-shaped regex (slower, and its
compilation costs a fraction of a second per job).

A run of a value's own text made only of lowercase letters and URL punctuation, or only of
capitals (`https://`, `example.`, `postgres`, `PASSWORD`) is ordinary text, not a piece:
masking it would mask every URL or word of that kind. Encoded forms keep all their runs.
"""

from __future__ import annotations

import base64
import re
import sys
from collections.abc import Iterable

PIECE = 8
_BLOCK = 4  # PIECE >= 2 * _BLOCK - 1: every run of PIECE bytes holds an aligned block
_ORDINARY = re.compile(rb"[a-z./:@_ -]+|[A-Z_]+")
# Where the chars of base64(k filler bytes + value) that depend on the value alone begin.
_B64_START = {0: 0, 1: 2, 2: 3}
_B64_TAIL = {0: 0, 1: 1, 2: 2}  # whole chars the last partial group still holds


def encoded_forms(value: str) -> list[str]:
    """`value`'s hex (both cases) and base64 forms (standard and URL-safe, at every byte
    alignment, cut to the characters that depend on the value's bytes alone)."""
    data = value.encode("utf-8")
    forms = [data.hex(), data.hex().upper()]
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + data).decode("ascii")
        size = shift + len(data)
        stop = (size // 3) * 4 + _B64_TAIL[size % 3]
        text = encoded[_B64_START[shift] : stop]
        forms += [text, text.replace("+", "-").replace("/", "_")]
    return forms


def _windows(form: bytes, *, skip_ordinary: bool) -> set[bytes]:
    found = {form[i : i + PIECE] for i in range(len(form) - PIECE + 1)}
    if skip_ordinary:
        found = {w for w in found if not _ORDINARY.fullmatch(w)}
    return found


def secret_windows(values: Iterable[str]) -> set[bytes]:
    """Every run of `PIECE` bytes of each value (ordinary text left out) and of each of its
    encoded forms."""
    found: set[bytes] = set()
    for value in values:
        data = value.encode("utf-8")
        if len(data) < PIECE:
            continue
        found |= _windows(data, skip_ordinary=True)
        for form in encoded_forms(value):
            found |= _windows(form.encode("ascii"), skip_ordinary=False)
    return found


def _word(data: bytes) -> int:
    return int.from_bytes(data, sys.byteorder)


class PieceFinder:
    """Finds where windows (8-byte runs of secrets) occur in a text."""

    def __init__(self, windows: Iterable[bytes]):
        kept = [w for w in windows if len(w) == PIECE]
        self._windows = frozenset(_word(w) for w in kept)
        self._blocks = frozenset(
            _word(w[i : i + _BLOCK]) for w in kept for i in range(PIECE - _BLOCK + 1)
        )

    def __bool__(self) -> bool:
        return bool(self._windows)

    def _starts(self, data: bytes) -> list[int]:
        """The byte offsets in `data` where a window begins."""
        usable = len(data) - len(data) % _BLOCK
        if self._blocks.isdisjoint(memoryview(data[:usable]).cast("I")):
            return []  # ordinary text: no block of any window at an aligned offset
        found: set[int] = set()
        for shift in range(PIECE):  # the windows themselves, at each of the 8 alignments
            usable = (len(data) - shift) // PIECE * PIECE
            if usable <= 0:
                break
            found |= self._windows.intersection(memoryview(data[shift : shift + usable]).cast("Q"))
        starts: set[int] = set()
        for window in found:
            needle = window.to_bytes(PIECE, sys.byteorder)
            at = data.find(needle)
            while at >= 0:
                starts.add(at)
                at = data.find(needle, at + 1)
        return sorted(starts)

    def spans(self, text: str) -> list[tuple[int, int]]:
        """The character spans of `text` that windows cover, overlapping ones merged."""
        if not self._windows or len(text) * 4 < PIECE:  # a character is at most 4 bytes
            return []
        data = text.encode("utf-8", "surrogatepass")
        spans: list[tuple[int, int]] = []
        for start in self._starts(data):
            if spans and start <= spans[-1][1]:
                spans[-1] = (spans[-1][0], start + PIECE)
            else:
                spans.append((start, start + PIECE))
        if spans and len(data) != len(text):
            spans = [(_chars(data, a, ceil=False), _chars(data, b, ceil=True)) for a, b in spans]
        return spans


def _chars(data: bytes, offset: int, *, ceil: bool) -> int:
    """The character index of byte `offset` of UTF-8 `data` (a byte inside a character
    counts as that character's start, or its end when `ceil`)."""
    head = data[:offset]
    count = len(head.decode("utf-8", "ignore"))
    partial = offset < len(data) and (data[offset] & 0xC0) == 0x80
    return count + 1 if ceil and partial else count


def mask_spans(text: str, spans: list[tuple[int, int]], mask: str) -> str:
    """`text` with each span replaced by `mask`."""
    out: list[str] = []
    at = 0
    for start, end in spans:
        out += [text[at:start], mask]
        at = end
    out.append(text[at:])
    return "".join(out)
