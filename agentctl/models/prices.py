"""What a model call costs: a model's prices per token (from litellm's table, once per
model), the size of a conversation, the least a call can cost (checked against the job's
budget before it is made), and the most output tokens a call may ask for within a budget."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from agentctl.models.loader import litellm_loading, load_litellm
from agentctl.models.messages import Message
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
    max_output: int | None = None  # the most tokens one reply can have, when the table says

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
        most = info.get("max_output_tokens") or info.get("max_tokens")
        found = Prices(
            input=inp,
            output=outp,
            cache_read=float(cache_read) if cache_read is not None else None,
            tiers=tuple(sorted(tiers, reverse=True)),
            max_output=int(most) if isinstance(most, (int, float)) and most > 0 else None,
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

    def chars(self, messages: list[Message]) -> int:
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


# The smallest reply worth asking for: a call whose budget cannot pay for this many output
# tokens (after its prompt) is refused rather than made.
MIN_REPLY_TOKENS = 32


def role_prices(cfg: RoleConfig) -> Prices:
    """The prices a role's calls are charged at: the recipe's, else litellm's table (only
    asked when litellm is loaded or loading, so estimating never imports it)."""
    table = model_prices(cfg.model) if cfg.model and litellm_loading() else NO_PRICES
    if cfg.input_cost_per_token is None and cfg.output_cost_per_token is None:
        return table
    return Prices(
        input=cfg.input_cost_per_token or 0.0,
        output=cfg.output_cost_per_token or 0.0,
        max_output=table.max_output,
    )


def estimate_call_cost(role: Any, messages: list[Message], size: PromptSize | None = None) -> float:
    """The least one call can cost, for refusing a call no budget left can pay: prompt
    characters / 4 as input tokens and a minimal reply (MIN_REPLY_TOKENS, or max_tokens when
    smaller) as output. Prices come from role_prices(); unknown prices cost 0. How many
    tokens the reply may then have is capped by reply_token_cap() when the call is made.

    Characters / 4 is how far off it can be: English prose and code run 3-4.5 characters a
    token, so the estimate is within about 25% (JSON quoting adds a few percent on top); text
    in scripts with few characters per token (Chinese, Japanese) can take 1-2 tokens a
    character, up to 4-8 times more than estimated. Tool schemas are not counted."""
    cfg = role if isinstance(role, RoleConfig) else _role_config("?", role)
    chars = size.chars(messages) if size is not None else len(json.dumps(messages, default=str))
    out_tokens = min(cfg.max_tokens or MIN_REPLY_TOKENS, MIN_REPLY_TOKENS)
    return role_prices(cfg).cost(int(chars / 4), out_tokens)


def reply_token_cap(prices: Prices, budget_usd: float, prompt_tokens: int) -> int | None:
    """The most output tokens a reply may have for a call with this prompt to cost at most
    `budget_usd` (0 when the prompt alone costs more); None when output costs nothing."""
    cost_in = prices.cost(prompt_tokens, 0)
    per_token = prices.cost(prompt_tokens, 1) - cost_in
    if per_token <= 0:
        return None if cost_in <= budget_usd else 0
    return max(0, int((budget_usd - cost_in) / per_token))
