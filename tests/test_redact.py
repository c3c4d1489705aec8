"""Redactor: secret values and secret-shaped strings become [REDACTED]."""

from __future__ import annotations

import json
import time

import pytest

from agentctl.redact import MASK, Redactor

# Fake credentials of the right shapes, built at run time so no scanner mistakes this file
# for a leak.
OPENAI = "sk-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4"
OPENAI_PROJ = "sk-proj-" + "abcDEF123_ghiJKL456-mnoPQR789"
ANTHROPIC = "sk-ant-api03-" + "Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2"
GITHUB = {prefix: prefix + "A" * 36 for prefix in ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")}
GITHUB_PAT = "github_pat_" + "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz"
AWS_ID = "AKIA" + "IOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nabcdef==\n-----END RSA PRIVATE KEY-----"


@pytest.mark.parametrize(
    "secret", [OPENAI, OPENAI_PROJ, ANTHROPIC, GITHUB_PAT, AWS_ID, *GITHUB.values()]
)
def test_builtin_patterns_mask_the_whole_secret(secret):
    redactor = Redactor()
    text = f"key={secret} and more"
    masked = redactor.mask(text)
    assert secret not in masked and MASK in masked
    assert masked.startswith("key=") and masked.endswith(" and more")
    assert secret[6:-4] not in masked


def test_aws_secret_and_bearer_keep_their_label():
    redactor = Redactor()
    assert (
        redactor.mask(f"aws_secret_access_key = {AWS_SECRET}") == f"aws_secret_access_key = {MASK}"
    )
    assert (
        redactor.mask(f'AWS_SECRET_ACCESS_KEY="{AWS_SECRET}"') == f'AWS_SECRET_ACCESS_KEY="{MASK}"'
    )
    assert (
        redactor.mask("Authorization: Bearer abc.def-123_XYZ~+/=")
        == f"Authorization: Bearer {MASK}"
    )
    assert redactor.mask("authorization: bearer abcdefgh12345") == f"authorization: bearer {MASK}"


def test_pem_private_key_blocks_even_unterminated():
    redactor = Redactor()
    masked = redactor.mask(f"before\n{PEM}\nafter")
    assert masked == f"before\n{MASK}\nafter"
    cut = redactor.mask("x\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk")
    assert "b3BlbnNzaC1rZXk" not in cut and cut.startswith("x\n")
    public = "-----BEGIN PUBLIC KEY-----\nMFkwEwYH\n-----END PUBLIC KEY-----"
    assert redactor.mask(public) == public


def test_secret_values_are_masked_only_when_long_enough():
    redactor = Redactor(values=["hunter2-is-long", "short", "", "hunter2-is-longer-still"])
    assert (
        redactor.mask("pw hunter2-is-longer-still / hunter2-is-long / short")
        == f"pw {MASK} / {MASK} / short"
    )
    assert redactor.values == ["hunter2-is-longer-still", "hunter2-is-long"]


def test_values_with_regex_characters_are_literal():
    redactor = Redactor(values=["a.b*c+d(e)"])
    assert redactor.mask("x a.b*c+d(e) axbbbcd") == f"x {MASK} axbbbcd"


def test_custom_patterns():
    redactor = Redactor(patterns=[r"token-[0-9]{4,}", r"(x)\1{5,}", "a*"])
    assert redactor.mask("use token-12345 or token-12") == f"use {MASK} or token-12"
    assert redactor.mask("xxxxxxx") == MASK  # a backreference runs on its own
    assert redactor.mask("plain text") == "plain text"  # "a*" (matches nothing) is dropped


def test_ordinary_text_is_untouched():
    redactor = Redactor(values=["supersecretvalue"])
    text = "ask the sk- prefix; ghp_ is short; Bearer x; AKIA123; the ghost ran"
    assert redactor.mask(text) == text
    assert redactor.mask("") == ""


def test_mask_data_walks_nested_structures():
    redactor = Redactor(values=["supersecretvalue"])
    data = {
        "args": {"command": "echo supersecretvalue", "n": 3, "ok": True},
        "list": ["a", OPENAI, ("t", "supersecretvalue"), None, 1.5],
        "supersecretvalue": "key",
    }
    masked = redactor.mask_data(data)
    assert masked == {
        "args": {"command": f"echo {MASK}", "n": 3, "ok": True},
        "list": ["a", MASK, ("t", MASK), None, 1.5],
        MASK: "key",
    }
    assert data["args"]["command"] == "echo supersecretvalue"  # the input is not changed


def test_masking_large_ordinary_text_is_fast():
    redactor = Redactor(values=["supersecretvalue"])
    text = "an ordinary line of tool output, nothing to hide here\n" * 20000
    start = time.perf_counter()
    assert redactor.mask(text) is text
    assert time.perf_counter() - start < 1.0  # generous: the point is "no regex pass"


def test_mask_json_serialises_once_and_masks_what_it_returns():
    from agentctl.redact import Redactor

    redactor = Redactor(values=["s3cr3t-value-123"])
    clean = {"a": "nothing here", "n": 1}
    same, text = redactor.mask_json(clean)
    assert same is clean and json.loads(text) == clean
    masked, text = redactor.mask_json({"out": "got s3cr3t-value-123"})
    assert masked == {"out": "got [REDACTED]"} and "s3cr3t" not in text
    assert json.loads(text) == masked
