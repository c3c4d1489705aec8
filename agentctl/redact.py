"""Masking secrets before text reaches the database, the log or the terminal (Guarantee 6).

Owns `Redactor`: the values of secret environment variables a recipe uses and of the
workspace's `.env*` files (`env_file_secrets`), built-in patterns for well-known credential
shapes (OpenAI, Anthropic, GitHub, AWS, Slack, Stripe, Google, Hugging Face, GitLab, npm,
JWTs, bearer tokens, passwords in URLs, PEM private keys) and a policy's extra `redact:`
patterns, all compiled into one regex. Every match becomes `[REDACTED]`; for `Bearer
<token>`, `aws_secret_access_key=<key>` and `scheme://user:<password>@host` the text around
the secret is kept, so it still says what was there. Unicode tag characters are stripped
from everything masked (it is also what tool results pass through on their way to the
model).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agentctl.secret_pieces import PieceFinder, mask_spans, secret_windows

MASK = "[REDACTED]"
MIN_SECRET_LENGTH = 8  # shorter values ("1", "true", "dev") would mask ordinary text
ENV_FILE_LIMIT = 1 << 20  # a larger ".env" file is not a settings file
_ENV_LINE = re.compile(r"^\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_.-]*\s*[=:]\s*(?P<value>.*)$")

# name -> (regex, lowercase substrings one of which any match must contain). Named groups
# called `keep` survive masking.
BUILTIN_PATTERNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "pem-private-key": (
        (
            r"-----BEGIN[A-Z ]{0,40}PRIVATE KEY-----[\s\S]*?"
            r"(?:-----END[A-Z ]{0,40}PRIVATE KEY-----|\Z)"
        ),
        ("-----begin",),
    ),
    "anthropic-key": (r"\bsk-ant-[A-Za-z0-9_\-]{16,}", ("sk-ant-",)),
    "openai-key": (r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{16,}", ("sk-",)),
    "github-token": (
        r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    ),
    "aws-access-key-id": (r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", ("akia", "asia")),
    "aws-secret-key": (
        (
            r"(?P<keep_aws>(?i:aws_secret_access_key)[\"']?\s*[:=]\s*[\"']?)"
            r"[A-Za-z0-9/+=]{30,}"
        ),
        ("aws_secret_access_key",),
    ),
    "bearer-token": (r"(?P<keep_bearer>\b(?i:bearer)\s+)[A-Za-z0-9\-._~+/]{8,}=*", ("bearer",)),
    "slack-token": (
        r"\bxox[abposre]-[A-Za-z0-9-]{10,}|\bxapp-[0-9]-[A-Za-z0-9-]{10,}",
        ("xox", "xapp-"),
    ),
    "slack-webhook": (
        r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]{16,}",
        ("hooks.slack.com",),
    ),
    "stripe-key": (
        r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|\bwhsec_[A-Za-z0-9]{16,}",
        ("_live_", "_test_", "whsec_"),
    ),
    "google-api-key": (r"\bAIza[0-9A-Za-z_\-]{35}", ("aiza",)),
    "google-oauth-token": (r"\bya29\.[0-9A-Za-z_\-]{20,}", ("ya29.",)),
    "huggingface-token": (r"\bhf_[A-Za-z0-9]{30,}", ("hf_",)),
    "gitlab-token": (
        r"\bgl(?:pat|dt|rt|ptt|oas|cbt|imt|ft|soat|agent)-[A-Za-z0-9_\-]{20,}",
        tuple(
            f"gl{k}-"
            for k in ("pat", "dt", "rt", "ptt", "oas", "cbt", "imt", "ft", "soat", "agent")
        ),
    ),
    "npm-token": (r"\bnpm_[A-Za-z0-9]{36}\b", ("npm_",)),
    "jwt": (r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", ("eyj",)),
    # scheme://user:PASSWORD@host: the password only; the rest says where it was.
    "url-password": (
        r"(?P<keep_url>\b[A-Za-z][A-Za-z0-9+.-]{1,20}://[^\s/:@'\"]{1,256}:)[^\s/@'\"]{1,256}(?=@)",
        ("://",),
    ),
}
# Unicode "tag" characters (U+E0000-U+E007F) are invisible on screen but read by models:
# text hidden in them is an injection nobody reviewing the log could see. Stripped.
_TAG_CHARACTERS = re.compile("[\U000e0000-\U000e007f]")


def strip_tag_characters(text: str) -> str:
    """`text` without Unicode tag characters (invisible, but a model reads them)."""
    if text.isascii():
        return text
    return _TAG_CHARACTERS.sub("", text)


class Redactor:
    """Masks secret values and secret-shaped strings in text and in nested data."""

    def __init__(self, values: Iterable[str] = (), patterns: Iterable[str] = ()):
        self.values = sorted(
            {v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LENGTH},
            key=len,
            reverse=True,
        )
        # A pattern that matches "" would put a mask between every two characters.
        self.patterns = [p for p in dict.fromkeys(patterns) if not re.search(p, "")]
        self._triggers = tuple(t for _, ts in BUILTIN_PATTERNS.values() for t in ts)
        self._json_values = tuple(
            {form for v in self.values for form in (v, json.dumps(v, ensure_ascii=False)[1:-1])}
        )
        branches = [re.escape(v) for v in self.values]
        branches += [p for p, _ in BUILTIN_PATTERNS.values()]
        # A custom pattern with groups runs on its own: in one alternation its backreferences
        # would point at other patterns' groups.
        alone = [p for p in self.patterns if re.compile(p).groups]
        branches += [f"(?:{p})" for p in self.patterns if p not in alone]
        self._regexes = [re.compile("|".join(branches))] + [re.compile(p) for p in alone]
        # Pieces (8 characters on) and base64/hex forms of the values: `agentctl.secret_pieces`.
        windows = secret_windows(self.values)
        self._pieces = PieceFinder(windows)
        # A window JSON would escape cannot be looked for in JSON text: walk instead.
        self._pieces_in_json = not any(re.search(rb'["\\\x00-\x1f]', w) for w in windows)

    def _may_match(self, text: str) -> bool:
        """A cheap pre-check: could any pattern match? Skips the regex on ordinary text."""
        if self.patterns:
            return True
        if any(v in text for v in self.values):
            return True
        lowered = text.lower()
        return any(t in lowered for t in self._triggers)

    @staticmethod
    def _replace(match: re.Match[str]) -> str:
        groups = match.groupdict()
        keep = groups.get("keep_aws") or groups.get("keep_bearer") or groups.get("keep_url") or ""
        return keep + MASK

    def mask(self, text: str) -> str:
        """`text` with every secret replaced by [REDACTED] (and tag characters removed)."""
        if not text:
            return text
        text = strip_tag_characters(text)
        if self._may_match(text):
            for regex in self._regexes:
                text = regex.sub(self._replace, text)
        spans = self._pieces.spans(text)  # what is left of a value after the whole ones
        return mask_spans(text, spans, MASK) if spans else text

    def mask_data(self, obj: Any) -> Any:
        """A copy of `obj` (dicts, lists, tuples, strings; other values as they are) masked.

        Most events hold no secret: one pre-check over their JSON text skips the walk.
        """
        if not self.patterns and not isinstance(obj, str):
            try:
                text = json.dumps(obj, ensure_ascii=False)
            except (TypeError, ValueError):
                text = None
            if text is not None and not self._may_match_json(text):
                return obj
        return self._mask_walk(obj)

    def mask_json(self, obj: Any) -> tuple[Any, str]:
        """`obj` masked, and its compact JSON text (what the store writes), serialised once."""
        text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
        if not self.patterns and not self._may_match_json(text):
            return obj, text
        masked = self._mask_walk(obj)
        return masked, json.dumps(masked, ensure_ascii=False, separators=(",", ":"))

    def _may_match_json(self, text: str) -> bool:
        # JSON escapes quotes, backslashes and control characters: look for those forms too.
        if any(form in text for form in self._json_values):
            return True
        if self._pieces and (not self._pieces_in_json or self._pieces.spans(text)):
            return True
        if not text.isascii() and _TAG_CHARACTERS.search(text):
            return True
        lowered = text.lower()
        return any(t in lowered for t in self._triggers)

    def _mask_walk(self, obj: Any) -> Any:
        if isinstance(obj, str):
            return self.mask(obj)
        if isinstance(obj, dict):
            return {
                self.mask(k) if isinstance(k, str) else k: self._mask_walk(v)
                for k, v in obj.items()
            }
        if isinstance(obj, list):
            return [self._mask_walk(v) for v in obj]
        if isinstance(obj, tuple):
            return tuple(self._mask_walk(v) for v in obj)
        return obj


def env_file_secrets(workspace: Path | str) -> list[str]:
    """The values set in the workspace's `.env*` files (at any depth, outside `.git`):
    secrets, whatever their names. `KEY=VALUE`, `export KEY=VALUE`, quoted or not."""
    values: list[str] = []
    for folder, dirnames, filenames in os.walk(workspace):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in sorted(filenames):
            if not name.startswith(".env"):
                continue
            path = os.path.join(folder, name)
            try:
                if not os.path.isfile(path) or os.path.getsize(path) > ENV_FILE_LIMIT:
                    continue
                with open(path, encoding="utf-8", errors="replace") as fh:
                    text = fh.read()
            except OSError:
                continue
            values += _env_values(text)
    return values


def history_env_secrets(workspace: Path | str) -> list[str]:
    """The values set in every `.env*` file the repository holding `workspace` ever
    committed (deleted ones too): `agentctl.process.git_secrets`."""
    from agentctl.process.git_secrets import committed_secret_files

    return [v for _, text in committed_secret_files(workspace) for v in _env_values(text)]


def _env_values(text: str) -> list[str]:
    found = []
    for line in text.splitlines():
        match = _ENV_LINE.match(line)
        if not match:
            continue
        value = match.group("value").strip()
        if value[:1] in ("'", '"') and value.find(value[0], 1) > 0:
            value = value[1 : value.find(value[0], 1)]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        if value:
            found.append(value)
    return found
