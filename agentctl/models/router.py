"""Which model answers: a role's chain of fallbacks, how a failed try is classified (retry
the same model, go on to the next, or fail at once), and how the failed tries are summed up."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from agentctl.models.roles import RoleConfig, _role_for


class EmptyReply(Exception):
    """The provider answered with no choices (treated like a transient server fault)."""


def classify_failure(exc: BaseException) -> tuple[str, str]:
    """('retry' | 'next' | 'fatal', reason). Retry transient faults on the same model; skip
    to the next fallback when this model cannot answer; fail fast when a fallback would hit
    the same wall (bad key, malformed request)."""
    status = getattr(exc, "status_code", None)
    text, kind = str(exc), type(exc).__name__
    if "Timeout" in kind or status == 408:
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


def summarise_attempts(attempts: list[dict]) -> str:
    """'a (server error (500) x3), b (connection error)': repeats folded, order kept."""
    groups: list[list] = []
    for a in attempts:
        if groups and groups[-1][0] == (a["model"], a["reason"]):
            groups[-1][1] += 1
        else:
            groups.append([(a["model"], a["reason"]), 1])
    return ", ".join(f"{m} ({r}{f' x{n}' if n > 1 else ''})" for (m, r), n in groups)


def fallback_chain(roles: Mapping[str, RoleConfig], name: str) -> list[RoleConfig]:
    """The role then its fallbacks, depth-first, each model once. A fallback naming a role
    uses that role's whole config (its own api_base, key, budget); a bare model string
    reuses the asking role's settings but not its prices or budget."""
    chain: list[RoleConfig] = []
    seen: set[tuple[str, str]] = set()

    def add(cfg: RoleConfig) -> None:
        if (cfg.name, cfg.model) in seen:
            return
        seen.add((cfg.name, cfg.model))
        chain.append(cfg)
        for fb in cfg.fallbacks:
            target = roles.get(fb)
            if target is not None:
                if target.model:
                    add(target)
            else:
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
