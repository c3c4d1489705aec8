"""Masking catches pieces and encodings of a secret value (issue 21, item 5 and case 3):
`cut -c1-18` then `cut -c19-60` of `API_TOKEN=<value>` gave the model both halves. Any run
of 8 characters of a value, of its base64 and of its hex is masked; checked here by decoding
what is left, not with the masking code's own tables."""

from __future__ import annotations

import base64
import binascii
import re
import textwrap
import uuid

import pytest

from agentctl.redact import MASK, Redactor

VALUE = f"CANARY-{uuid.uuid4().hex}"
ENV = f"API_TOKEN={VALUE}\nDEBUG=true\n"


def runs(text: str, secret: str | bytes, size: int) -> list:
    """Every run of `size` items of `secret` that `text` holds."""
    return [
        secret[i : i + size] for i in range(len(secret) - size + 1) if secret[i : i + size] in text
    ]


def test_the_two_halves_of_a_cut_value_are_both_masked():
    redactor = Redactor([VALUE])
    first, second = redactor.mask(ENV[:18]), redactor.mask(ENV[18:60])
    assert runs(first + "\n" + second, VALUE, 8) == [], (first, second)
    assert first.startswith("API_TOKEN=") and MASK in first and MASK in second


@pytest.mark.parametrize("cut", [(10, 18), (10, 30), (15, 40), (20, 28), (11, 60), (30, 100)])
def test_any_piece_of_eight_or_more_characters_is_masked(cut):
    start, end = cut
    piece = ENV[start:end]
    shown = Redactor([VALUE]).mask(f"line before\n{piece}\nline after")
    assert runs(shown, VALUE, 8) == [], shown
    assert shown.startswith("line before\n") and shown.endswith("\nline after")


def _decodable_bytes(text: str, alphabet: str, decode) -> list[bytes]:
    """Everything the runs of `alphabet` characters left in `text` decode to, at every
    alignment."""
    out = []
    for run in re.findall(f"[{alphabet}]+", text.replace("\n", "")):
        for shift in range(4):
            part = run[shift:]
            part = part[: len(part) - len(part) % (4 if "+" in alphabet else 2)]
            try:
                out.append(decode(part))
            except (binascii.Error, ValueError):
                pass
    return out


@pytest.mark.parametrize("prefix", ["", "x", "xy"])  # the three base64 alignments
@pytest.mark.parametrize("urlsafe", [False, True])
def test_the_base64_of_a_file_holding_the_value_is_masked(prefix, urlsafe):
    data = (prefix + ENV).encode()
    encoded = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(data).decode()
    shown = Redactor([VALUE]).mask("\n".join(textwrap.wrap(encoded, 76)))  # `base64` wraps
    decode = base64.urlsafe_b64decode if urlsafe else base64.b64decode
    alphabet = "A-Za-z0-9_=-" if urlsafe else "A-Za-z0-9+/="
    decoded = _decodable_bytes(shown, alphabet, decode)
    assert not any(runs(d, VALUE.encode(), 6) for d in decoded), shown  # 8 chars = 6 bytes


@pytest.mark.parametrize("upper", [False, True])
def test_the_hex_of_a_file_holding_the_value_is_masked(upper):
    encoded = ENV.encode().hex()
    encoded = encoded.upper() if upper else encoded
    shown = Redactor([VALUE]).mask("\n".join(textwrap.wrap(encoded, 60)))  # `xxd -p` wraps
    decoded = _decodable_bytes(shown, "0-9a-fA-F", bytes.fromhex)
    assert not any(runs(d, VALUE.encode(), 4) for d in decoded), shown  # 8 hex = 4 bytes


def test_pieces_in_nested_data_and_json_are_masked():
    redactor = Redactor([VALUE])
    data = {"result": {"output": ENV[:18], "lines": [ENV[18:60]]}}
    masked, text = redactor.mask_json(data)
    assert runs(text, VALUE, 8) == [] and runs(str(redactor.mask_data(data)), VALUE, 8) == []
    assert masked["result"]["output"].startswith("API_TOKEN=")


def test_ordinary_text_stays_when_a_value_is_made_of_it():
    url = "https://db.example.com:5432/app"
    redactor = Redactor([url, "correcthorsebattery"])
    text = "see https://docs.example.com/app and correct horses; battery"
    assert redactor.mask(text) == text
    assert redactor.mask(f"x {url} y") == f"x {MASK} y"  # the whole value still is masked
    assert redactor.mask("port com:5432/ap") == f"port {MASK}"  # a run with digits is a piece
