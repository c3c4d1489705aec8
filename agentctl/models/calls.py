"""Talking to language models: the live client (retries, fallbacks, budgets, cost) and the
replaying one. litellm is loaded lazily (agentctl.models.loader); prices and estimates are in
agentctl.models.prices, the fallback chain and failure classes in agentctl.models.router.

The engine sees one thing, `agentctl.models.client.ModelClient`, whose complete() returns a
`ModelReply` with an OpenAI-format assistant message. Record/replay files: models.cassette.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentctl.errors import UsageError
from agentctl.models import cassette
from agentctl.models.bounds import (
    NO_BOUNDS,
    CallBounds,
    CallCancelled,
    DeadlineReached,
    RequestTimedOut,
    pause,
    run_bounded,
)
from agentctl.models.client import Mask, ModelClient
from agentctl.models.loader import litellm_loaded, load_litellm
from agentctl.models.local import LocalModels, is_local_model
from agentctl.models.messages import Attempt, Message, ToolSchema
from agentctl.models.outgoing import ShapedCall, shape_call
from agentctl.models.prices import (
    MIN_REPLY_TOKENS,
    PromptSize,
    estimate_call_cost,
    model_prices,
    reply_token_cap,
    role_prices,
)
from agentctl.models.replay import ReplayClient
from agentctl.models.replies import ModelError, ModelReply, assemble_stream, normalise_message
from agentctl.models.roles import (
    RoleConfig,
    _missing_key_message,
    _role_for,
    resolve_roles,
    stream_mode,
)
from agentctl.models.router import (
    Cooldowns,
    EmptyReply,
    classify_failure,
    endpoint_host,
    fallback_chain,
    short_error,
    summarise_attempts,
)
from agentctl.units import format_usd

DEFAULT_RETRY_DELAYS = (1.0, 4.0)  # two retries per model, exponential-ish
# Seconds one request may take when its role names no `timeout`: a long generation fits, and
# a reply that never comes is given up (the job's limits.timeout may cut it shorter).
DEFAULT_TIMEOUT = 120.0
DEFAULT_COOLDOWN = 60.0  # seconds a model that failed is passed over for its fallbacks
# A reply shown as it streams is worth litellm's streaming cost (several ms of CPU a call,
# about 4x a plain call's) only when it takes a while to arrive: after a model answered within
# this many seconds its next reply is asked for whole and shown at once, and after a slower
# one it streams again. The first call to each model streams.
STREAM_WHEN_SLOWER_THAN = 1.0
# AGENTCTL_STREAM can say `always` or `never` instead: see roles.stream_mode.


__all__ = ["ModelError", "ModelReply", "build_model_client"]  # + re-exports


# The key sent to a recipe's own api_base when its api_key_env names none.
NO_KEY = "sk-no-key-needed"
# Providers that authenticate with ambient cloud credentials rather than one key: never sent
# to a recipe's own api_base.
AMBIENT_CREDENTIAL_PROVIDERS = frozenset(
    {"bedrock", "bedrock_converse", "sagemaker", "sagemaker_chat", "vertex_ai", "vertex_ai_beta"}
)


# -- the live client ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Call:
    """One model of a chain asked one question: what each of its tries sends."""

    cfg: RoleConfig
    role: str  # the role that asked
    messages: list[Message]
    tools: list[ToolSchema]
    call_index: int
    key: str | None
    max_tokens: int | None


class _OverBudget(Exception):
    """Not even a minimal reply from this model fits the smallest budget left."""


class LiteLLMClient:
    """Calls models through litellm. `spent` (role -> USD) is public so a resumed job can
    seed it from its event log."""

    def __init__(
        self,
        roles: dict[str, RoleConfig],
        *,
        env: Mapping[str, str] | None = None,
        record: Path | None = None,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        timeout: float = DEFAULT_TIMEOUT,
        mask: Mask | None = None,
        stream: str = "auto",
        stream_when_slower_than: float = STREAM_WHEN_SLOWER_THAN,
        cooldowns: Cooldowns | None = None,
    ):
        self.roles = roles
        self.stream = stream  # one of roles.STREAM_MODES
        self.stream_when_slower_than = stream_when_slower_than
        self._quick: dict[str, bool] = {}  # model -> its last reply came within the threshold
        self.mask = mask or (lambda value: value)
        self._env = env  # None: os.environ, read at call time
        self.retry_delays = tuple(retry_delays)
        self.timeout = timeout
        self.recorder = cassette.CassetteWriter(record) if record else None
        self.spent: dict[str, float] = {}
        self._lock = threading.Lock()
        self._size = PromptSize()
        self.cooldowns = cooldowns or Cooldowns()
        self.local = LocalModels()  # local/ models' servers, started at their first call

    def close(self) -> None:
        """Stop what the client started (local model servers); the runner calls it when the
        job's steps end, however they end."""
        self.local.close()

    def estimate_call_cost(self, role: str, messages: list[Message]) -> float:
        """estimate_call_cost() for a role name, after overrides."""
        return estimate_call_cost(_role_for(self.roles, role), messages, self._size)

    def complete(
        self,
        role: str,
        messages: list[Message],
        tools: list[ToolSchema],
        *,
        call_index: int,
        on_text: Callable[[str], None] | None = None,
        bounds: CallBounds | None = None,
    ) -> ModelReply:
        """The first answer of the role's chain. CallCancelled or DeadlineReached when the
        job's `bounds` end the call; ModelError when every model failed."""
        bounds = bounds or NO_BOUNDS
        self._load(bounds)
        chain = fallback_chain(self.roles, role)
        passed_over = self.cooldowns.skipped(chain)
        attempts: list[Attempt] = []
        for place, cfg in enumerate(chain):
            if place in passed_over:
                wait = f"it failed lately; tried again in {passed_over[place]:.0f}s"
                attempts.append({"model": cfg.model, "reason": "cooling down", "error": wait})
                continue
            try:
                max_tokens = self._max_tokens(cfg, messages, tools, bounds)
            except _OverBudget as over:
                attempts.append({"model": cfg.model, "reason": "over budget", "error": str(over)})
                continue
            key = self._key_for(cfg, attempts)
            call = _Call(cfg, role, messages, tools, call_index, key, max_tokens)
            reply = self._try_model(call, on_text, bounds, attempts)
            if reply is not None:
                return self._answered(call, reply, attempts)
        raise self._exhausted(role, attempts)

    @staticmethod
    def _load(bounds: CallBounds) -> None:
        """Import litellm (seconds, more on a busy machine) before any request's timeout
        starts, still within the job's deadline and open to a cancel."""
        if not litellm_loaded():
            try:
                run_bounded(
                    lambda _: load_litellm(),
                    until=math.inf if bounds.deadline is None else bounds.deadline,
                    cancel=bounds.cancel,
                    on_text=None,
                )
            except RequestTimedOut:
                raise DeadlineReached() from None

    def _try_model(
        self,
        call: _Call,
        on_text: Callable[[str], None] | None,
        bounds: CallBounds,
        attempts: list[Attempt],
    ) -> ModelReply | None:
        """One model, tried again after transient faults; None when it failed (and is then
        passed over for its cooldown if the fault was the endpoint's)."""
        cfg = call.cfg
        for n in range(len(self.retry_delays) + 1):
            if bounds.deadline is not None and time.monotonic() >= bounds.deadline:
                raise DeadlineReached()
            try:
                return self._request(call, on_text, bounds)
            except (CallCancelled, DeadlineReached):
                raise
            except Exception as exc:
                kind, reason = classify_failure(exc)
                error = short_error(exc, [call.key or ""])
                attempts.append({"model": cfg.model, "error": error, "reason": reason})
                if kind == "fatal":
                    raise self._fatal(cfg, reason, error, attempts) from None
                if kind == "next" or n == len(self.retry_delays):
                    if kind == "retry":
                        cooldown = DEFAULT_COOLDOWN if cfg.cooldown is None else cfg.cooldown
                        self.cooldowns.start(cfg, cooldown)
                    return None
                pause(self.retry_delays[n], bounds)
        return None

    def _request(
        self, call: _Call, on_text: Callable[[str], None] | None, bounds: CallBounds
    ) -> ModelReply:
        """One request, given the smaller of the role's timeout and the job's time left."""
        timeout = self._timeout_for(call.cfg)
        until = time.monotonic() + timeout
        job_bound = bounds.deadline is not None and bounds.deadline <= until
        if job_bound:
            assert bounds.deadline is not None
            until = bounds.deadline
        # Here, not in the worker: a local/ model's server is started at its first call, and
        # a start left behind by an abandoned request must not race the next one.
        shaped = shape_call(self.local, call.cfg, call.messages, call.tools, call.key)
        if is_local_model(call.cfg.model):
            # xllamacpp's server holds the GIL while it stops with a request in flight: one
            # abandoned in a worker thread hung the process at the job's end. So it runs here:
            # Ctrl-C and SIGTERM cut it (the server stops generating), litellm's timeout is its
            # deadline, and a `cancel` takes effect when the reply comes.
            return self._call(call, shaped, on_text, until - time.monotonic())
        try:
            return run_bounded(
                lambda emit: self._call(call, shaped, emit, until - time.monotonic()),
                until=until,
                cancel=bounds.cancel,
                on_text=on_text,
            )
        except RequestTimedOut:
            if job_bound:
                raise DeadlineReached() from None
            raise RequestTimedOut(f"no reply within the role's timeout ({timeout:g}s)") from None

    def _timeout_for(self, cfg: RoleConfig) -> float:
        if cfg.timeout is not None:
            return cfg.timeout
        given = cfg.options.get("timeout")
        if isinstance(given, (int, float)) and not isinstance(given, bool) and given > 0:
            return float(given)
        return self.timeout

    def _max_tokens(
        self, cfg: RoleConfig, messages: list[Message], tools: list[ToolSchema], bounds: CallBounds
    ) -> int | None:
        """The role's max_tokens, capped so the call cannot pass the smallest budget left (the
        job's or the role's) at the model's price; _OverBudget when not even a minimal reply
        fits. Prompt tokens are bounded roughly first (2 characters a token) and counted
        with litellm's tokenizer only when the cap may bind."""
        budgets = []
        if bounds.budget_usd is not None:
            budgets.append((bounds.budget_usd, "the job"))
        if cfg.max_cost_usd is not None:
            spent = self.spent.get(cfg.name, 0.0)
            budgets.append((cfg.max_cost_usd - spent, f"role '{cfg.name}'"))
            if spent >= cfg.max_cost_usd:
                raise _OverBudget(
                    f"role '{cfg.name}' spent {format_usd(spent)} of {format_usd(cfg.max_cost_usd)}"
                )
        if not budgets:
            return cfg.max_tokens
        left, whose = min(budgets)
        load_litellm()  # the call needs it anyway; its price table is now read
        prices = role_prices(cfg)
        ceiling = cfg.max_tokens or prices.max_output
        chars = self._size.chars(messages) + len(json.dumps(tools))
        rough = reply_token_cap(prices, left, chars // 2)
        if rough is None or (ceiling is not None and rough >= ceiling):
            return cfg.max_tokens
        cap = reply_token_cap(prices, left, self._count_tokens(cfg, messages, tools, chars))
        if cap is None or cap < min(MIN_REPLY_TOKENS, ceiling or MIN_REPLY_TOKENS):
            raise _OverBudget(
                f"{whose} has {format_usd(max(left, 0.0))} left: not enough for this prompt"
                f" and a {MIN_REPLY_TOKENS}-token reply from {cfg.model}"
            )
        return cap if ceiling is None else min(cap, ceiling)

    @staticmethod
    def _count_tokens(
        cfg: RoleConfig, messages: list[Message], tools: list[ToolSchema], chars: int
    ) -> int:
        try:
            counted = load_litellm().token_counter(
                model=cfg.model, messages=messages, tools=tools or None
            )
        except Exception:  # a tokenizer it cannot load: the rough bound
            return chars // 2
        return int(counted * 1.05) + 16  # providers frame messages a little differently

    def _key_for(self, cfg: RoleConfig, attempts: list[Attempt]) -> str | None:
        env = os.environ if self._env is None else self._env
        key = env.get(cfg.api_key_env) if cfg.api_key_env else None
        if cfg.api_key_env and not key:
            raise ModelError(_missing_key_message(cfg), f"export {cfg.api_key_env}=...", attempts)
        if not cfg.api_key_env and cfg.api_base:
            # A recipe's own api_base never gets an ambient provider key (OPENAI_API_KEY,
            # ANTHROPIC_API_KEY...), whatever the provider: only the key its api_key_env
            # names. litellm reads the provider's variable unless a key is given, so one
            # that means nothing is. A local server (Ollama, llama.cpp) needs none.
            if cfg.model.split("/", 1)[0] in AMBIENT_CREDENTIAL_PROVIDERS:
                raise ModelError(
                    f"role '{cfg.name}' sends {cfg.model} to its own api_base, and that "
                    "provider signs requests with the machine's cloud credentials",
                    "remove api_base, or serve the model behind an OpenAI-compatible "
                    "endpoint and name its key with api_key_env",
                    attempts,
                )
            key = NO_KEY
        return key

    def _answered(self, call: _Call, reply: ModelReply, attempts: list[Attempt]) -> ModelReply:
        cfg = call.cfg
        reply.attempts = attempts
        reply.answered_by = cfg.name
        reply.endpoint = endpoint_host(cfg)
        self.cooldowns.end(cfg)
        with self._lock:
            self.spent[cfg.name] = self.spent.get(cfg.name, 0.0) + reply.cost_usd
        if self.recorder:
            # Secrets never reach the recording: it is stored like the log.
            self.recorder.write(
                call.call_index,
                call.role,
                cfg.model,
                self.mask(call.messages),
                call.tools,
                self.mask(reply.to_dict()),
            )
        return reply

    @staticmethod
    def _exhausted(role: str, attempts: list[Attempt]) -> ModelError:
        tried = summarise_attempts(attempts)
        if attempts and all(a["reason"] == "over budget" for a in attempts):
            return ModelError(
                f"every model for role '{role}' is over its budget: {tried}",
                "raise max_cost_usd (the job's limits or the role's), or add a cheaper fallback",
                attempts,
            )
        last = attempts[-1]["error"] if attempts else ""
        return ModelError(
            f"model call failed for role '{role}' after trying {tried}; last error: {last}",
            "the provider may be down or rate-limiting: try again later (agentctl "
            "resume continues the job), or add fallbacks to the role",
            attempts,
        )

    @staticmethod
    def _fatal(cfg: RoleConfig, reason: str, error: str, attempts: list[Attempt]) -> ModelError:
        if reason.startswith("auth"):
            hint = (
                f"check that ${cfg.api_key_env} holds a valid key for {cfg.model}"
                if cfg.api_key_env
                else f"set the provider's API key (e.g. OPENAI_API_KEY) or api_key_env for role '{cfg.name}'"
            )
        else:
            hint = f"check the model name '{cfg.model}' and the options of role '{cfg.name}' in the recipe"
        return ModelError(f"{cfg.model}: {reason}: {error}", hint, attempts)

    def _call(
        self,
        call: _Call,
        shaped: ShapedCall,
        on_text: Callable[[str], None] | None,
        timeout: float,
    ) -> ModelReply:
        cfg = call.cfg
        lt = load_litellm()
        kwargs = _request_kwargs(call, shaped, timeout)
        t0 = time.monotonic()
        stream = on_text is not None and (
            self.stream == "always"
            or (self.stream == "auto" and not self._quick.get(cfg.model, False))
        )
        if not stream:
            resp = lt.completion(**kwargs)
            latency = (time.monotonic() - t0) * 1000
            if resp is None or not getattr(resp, "choices", None):
                raise EmptyReply("the provider returned no choices")
            message: Any = resp.choices[0].message
            usage = getattr(resp, "usage", None)
            text = getattr(message, "content", None)
            if on_text is not None and isinstance(text, str) and text:
                on_text(text)  # a quick reply is shown at once
        else:
            assert on_text is not None
            chunks = lt.completion(stream=True, stream_options={"include_usage": True}, **kwargs)
            message, usage = assemble_stream(chunks, on_text)
            latency = (time.monotonic() - t0) * 1000
            if message is None:
                raise EmptyReply("the provider returned no choices")
        self._quick[cfg.model] = latency < self.stream_when_slower_than * 1000
        tin = int(getattr(usage, "prompt_tokens", 0) or 0)
        tout = int(getattr(usage, "completion_tokens", 0) or 0)
        return ModelReply(
            message=normalise_message(message, call.call_index, shaped.text_tools),
            model=cfg.model,
            role=call.role,
            input_tokens=tin,
            output_tokens=tout,
            cost_usd=_reply_cost(cfg, shaped, usage, tin, tout),
            latency_ms=latency,
        )


def _request_kwargs(call: _Call, shaped: ShapedCall, timeout: float) -> dict[str, Any]:
    """litellm.completion's arguments for one try: the role's options, then what agentctl
    sets (model, messages, tools, its budget's max_tokens, the time left)."""
    cfg = call.cfg
    kwargs: dict[str, Any] = dict(cfg.options)
    explicit = {
        "temperature": cfg.temperature,
        "max_tokens": call.max_tokens,
        "api_base": shaped.api_base,
        "api_key": shaped.api_key,
    }
    kwargs.update({k: v for k, v in explicit.items() if v is not None})
    # Retries are ours (with fallbacks and attempt records), not the OpenAI SDK's hidden
    # ones; the request's timeout is what is left of the role's or the job's time.
    kwargs.update(
        model=shaped.model,
        messages=shaped.messages,
        tools=call.tools or None,
        max_retries=0,
        timeout=max(timeout, 0.001),
    )
    return kwargs


def _reply_cost(cfg: RoleConfig, shaped: ShapedCall, usage: Any, tin: int, tout: int) -> float:
    """What a reply cost: $0 from a local model, else at the recipe's prices, else at
    litellm's (with cached prompt tokens at their price)."""
    if shaped.free:
        return 0.0  # a local model: recorded as $0, its tokens as the server counted them
    if cfg.input_cost_per_token is not None or cfg.output_cost_per_token is not None:
        return tin * (cfg.input_cost_per_token or 0.0) + tout * (cfg.output_cost_per_token or 0.0)
    details = getattr(usage, "prompt_tokens_details", None)
    cached = int(getattr(details, "cached_tokens", 0) or 0)
    return model_prices(cfg.model).cost(tin, tout, cached)


def build_model_client(
    roles: Mapping[str, Any],
    overrides: Sequence[str] = (),
    *,
    env: Mapping[str, str] | None = None,
    record: Path | None = None,
    replay: Path | None = None,
    retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
    timeout: float = DEFAULT_TIMEOUT,
    mask: Mask | None = None,
) -> ModelClient:
    """A replaying client when `replay` is given, else a live one. Never fails for a missing
    model: that is reported by complete() (or up front by check_models_configured)."""
    if replay is not None:
        if record is not None:
            raise UsageError(
                "--record and --replay cannot be combined",
                "replay answers from the file; record a fresh run without --replay",
            )
        from agentctl import gc_tuning

        gc_tuning.loaded()  # a replay never loads litellm: start-up is over
        return ReplayClient(Path(replay), mask=mask)
    return LiteLLMClient(
        resolve_roles(roles, overrides, env),
        stream=stream_mode(env),
        env=env,
        record=Path(record) if record else None,
        retry_delays=retry_delays,
        timeout=timeout,
        mask=mask,
    )
