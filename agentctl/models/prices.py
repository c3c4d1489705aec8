"""What a model call costs: a model's prices per token (from litellm's table, once per
model), the size of a conversation, and the estimate checked against a budget before a call."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from agentctl.models.loader import litellm_loading, load_litellm
from agentctl.models.roles import RoleConfig, _role_config


@dataclass(frozen=True)
class Prices:
    """A model's prices per token, from litellm's table: looked up once per model, then cost
    is usage times price (litellm.completion_cost re-derives all of this on every reply)."""

    input: float = 0.0
    output: float = 0.0
    cache_read: float | None = None  # cached prompt tokens, when the provider reports them
    # (prompt tokens above N, input price, output price), highest N first: long prompts
    # cost more on some models.
    tiers: tuple[tuple[int, float, float], ...] = ()

    def cost(self, input_tokens: int, output_tokens: int, cached_tokens: int = 0) -> float:
        inp, outp = self.input, self.output
        for above, tier_in, tier_out in self.tiers:
            if input_tokens > above:
                inp, outp = tier_in, tier_out
                break
        cached = min(cached_tokens, input_tokens) if self.cache_read is not None else 0
        return (
            (input_tokens - cached) * inp + cached * (self.cache_read or 0.0) + output_tokens * outp
        )


NO_PRICES = Prices()
_prices: dict[str, Prices] = {}
_TIER = re.compile(r"input_cost_per_token_above_(\d+)k_tokens")


def model_prices(model: str) -> Prices:
    """litellm's prices for `model` (zero when it is not in the table), once per process."""
    found = _prices.get(model)
    if found is None:
        try:
            info = load_litellm().get_model_info(model)
        except Exception:  # a model missing from litellm's price table costs "unknown" = 0
            info = {}
        inp = float(info.get("input_cost_per_token") or 0.0)
        outp = float(info.get("output_cost_per_token") or 0.0)
        tiers = []
        for key, value in info.items():
            m = _TIER.fullmatch(key)
            if m and value is not None:
                out_key = f"output_cost_per_token_above_{m.group(1)}k_tokens"
                tiers.append(
                    (int(m.group(1)) * 1000, float(value), float(info.get(out_key) or outp))
                )
        cache_read = info.get("cache_read_input_token_cost")
        found = Prices(
            input=inp,
            output=outp,
            cache_read=float(cache_read) if cache_read is not None else None,
            tiers=tuple(sorted(tiers, reverse=True)),
        )
        _prices[model] = found
    return found


class PromptSize:
    """Characters of a conversation as JSON, counted incrementally: the agent loop only appends
    to its message list, so each message is serialised once, not once per call."""

    def __init__(self) -> None:
        self._list_id = 0
        self._counted = 0
        self._last: Any = None
        self._chars = 0

    def chars(self, messages: list[dict]) -> int:
        n = len(messages)
        same = (
            id(messages) == self._list_id
            and 0 < self._counted <= n
            and messages[self._counted - 1] is self._last
        )
        if not same:
            self._list_id, self._counted, self._chars = id(messages), 0, 2  # "[]"
        for message in messages[self._counted :]:
            self._chars += len(json.dumps(message, default=str)) + 2  # ", " between items
        self._counted, self._last = n, messages[-1] if messages else None
        return self._chars - 2 if n else 2


def estimate_call_cost(role: Any, messages: list[dict], size: PromptSize | None = None) -> float:
    """Rough upper-ish cost of one call, for checking max_cost_usd before making it: prompt
    characters / 4 as input tokens, max_tokens (or 1000) as output tokens. Prices come from the
    role, else from litellm's table if litellm is loaded or being prefetched, else 0.

    Characters / 4 is how far off it can be: English prose and code run 3-4.5 characters a
    token, so the estimate is within about 25% (JSON quoting adds a few percent on top); text
    in scripts with few characters per token (Chinese, Japanese) can take 1-2 tokens a
    character, up to 4-8 times more than estimated. Tool schemas are not counted."""
    cfg = role if isinstance(role, RoleConfig) else _role_config("?", role)
    chars = size.chars(messages) if size is not None else len(json.dumps(messages, default=str))
    prompt_tokens = chars / 4
    out_tokens = cfg.max_tokens or 1000
    inp, outp = cfg.input_cost_per_token, cfg.output_cost_per_token
    if inp is None and outp is None and cfg.model and litellm_loading():
        prices = model_prices(cfg.model)
        inp, outp = prices.input, prices.output
    return prompt_tokens * (inp or 0.0) + out_tokens * (outp or 0.0)
