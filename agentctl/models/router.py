"""Which model answers: a role's chain of fallbacks, how a failed try is classified (retry
the same model, go on to the next, or fail at once), the cooldown that passes over a model
that failed lately, where a model's requests go, and how the failed tries are summed up."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from itertools import groupby
from urllib.parse import urlsplit

from agentctl.models.bounds import RequestTimedOut
from agentctl.models.messages import Attempt
from agentctl.models.roles import InlineModel, RoleConfig, _role_for, inline_role


class EmptyReply(Exception):
    """The provider answered with no choices (treated like a transient server fault)."""


def classify_failure(exc: BaseException) -> tuple[str, str]:
    """('retry' | 'next' | 'fatal', reason). Retry transient faults on the same model; skip
    to the next fallback when this model cannot answer; fail fast when a fallback would hit
    the same wall (bad key, malformed request)."""
    status = getattr(exc, "status_code", None)
    text, kind = str(exc), type(exc).__name__
    if "Timeout" in kind or status == 408 or isinstance(exc, RequestTimedOut):
        return "retry", "timeout"
    if "Connection" in kind or "Connection error" in text or isinstance(exc, ConnectionError):
        return "retry", "connection error"
    if "missing credentials" in text.lower() or "api_key client option must be set" in text:
        return "fatal", "auth failed (no API key)"  # litellm reports this as a 500
    if isinstance(exc, EmptyReply):
        return "retry", "empty reply"
    if not isinstance(status, int):
        return "next", f"error ({kind})"
    if status in (401, 403):
        return "fatal", f"auth failed ({status})"
    if status == 404:
        return "next", "model not found (404)"
    if status == 429:
        return "retry", "rate limited (429)"
    if status == 409 or status >= 500:
        return "retry", f"server error ({status})"
    return "fatal", f"bad request ({status})"


def short_error(exc: BaseException, secrets: Sequence[str]) -> str:
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "***")  # provider errors sometimes echo (part of) the key
    return text[:300]


def summarise_attempts(attempts: list[Attempt]) -> str:
    """'a (server error (500) x3), b (connection error)': repeats folded, order kept."""
    groups = groupby(attempts, key=lambda a: (a["model"], a["reason"]))
    counted = [(m, r, sum(1 for _ in run)) for (m, r), run in groups]
    return ", ".join(f"{m} ({r}{f' x{n}' if n > 1 else ''})" for m, r, n in counted)


def fallback_chain(roles: Mapping[str, RoleConfig], name: str) -> list[RoleConfig]:
    """The role then its fallbacks, depth-first, each model (at each endpoint) once. A
    fallback naming a role uses that role's whole config (its own api_base, key, budget); a
    bare model string reuses the asking role's settings but not its prices or budget; an
    inline model has its own endpoint and key (roles.inline_role)."""
    chain: list[RoleConfig] = []
    seen: set[tuple[str, str, str]] = set()

    def add(cfg: RoleConfig) -> None:
        if (cfg.name, cfg.model, cfg.api_base or "") in seen:
            return
        seen.add((cfg.name, cfg.model, cfg.api_base or ""))
        chain.append(cfg)
        for fb in cfg.fallbacks:
            if isinstance(fb, InlineModel):
                add(inline_role(cfg, fb))
                continue
            target = roles.get(fb)
            if target is not None:
                if target.model:
                    add(target)
                continue
            add(
                replace(
                    cfg,
                    model=fb,
                    fallbacks=[],
                    input_cost_per_token=None,
                    output_cost_per_token=None,
                    max_cost_usd=None,
                )
            )

    add(_role_for(roles, name))
    return chain


def endpoint_host(cfg: RoleConfig) -> str:
    """Where a model's requests go, for the log: the host (and port) of its api_base, else
    the provider's own endpoint, named by the model string's provider."""
    if cfg.api_base:
        parts = urlsplit(cfg.api_base)
        if not parts.hostname:
            return cfg.api_base
        return f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname
    provider, _, rest = cfg.model.partition("/")
    return provider if rest else "provider default"


class Cooldowns:
    """Models that failed lately (a connection error, a timeout, 5xx, 429), by model and
    endpoint, and until when they are passed over for their fallbacks. Like a router's: a
    dead primary costs its retries once, not on every call."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._until: dict[tuple[str, str], float] = {}

    @staticmethod
    def _key(cfg: RoleConfig) -> tuple[str, str]:
        return cfg.model, cfg.api_base or ""

    def start(self, cfg: RoleConfig, seconds: float) -> None:
        self._until[self._key(cfg)] = self.clock() + seconds

    def end(self, cfg: RoleConfig) -> None:
        self._until.pop(self._key(cfg), None)

    def left(self, cfg: RoleConfig) -> float:
        """Seconds this model is still passed over (0: try it)."""
        until = self._until.get(self._key(cfg))
        return 0.0 if until is None else max(0.0, until - self.clock())

    def skipped(self, chain: Sequence[RoleConfig]) -> dict[int, float]:
        """The places in `chain` to pass over now, with the seconds left; none when every
        model is cooling down (then each is tried, as without fallbacks)."""
        left = {i: self.left(cfg) for i, cfg in enumerate(chain)}
        cooling = {i: s for i, s in left.items() if s > 0}
        return cooling if len(cooling) < len(chain) else {}
