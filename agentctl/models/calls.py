"""Talking to language models: the live client (retries, fallbacks, budgets, cost) and the
replaying one. litellm is loaded lazily (agentctl.models.loader); prices and estimates are in
agentctl.models.prices, the fallback chain and failure classes in agentctl.models.router.

The engine sees one thing: `ModelClient.complete(role, messages, tools, call_index=...)`
returning a `ModelReply` with an OpenAI-format assistant message. Record/replay files are in
agentctl.models.cassette.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from agentctl.errors import UsageError
from agentctl.models import cassette
from agentctl.models.loader import load_litellm
from agentctl.models.local import LocalModels
from agentctl.models.outgoing import shape_call
from agentctl.models.prices import PromptSize, estimate_call_cost, model_prices
from agentctl.models.replies import ModelError, ModelReply, assemble_stream, normalise_message
from agentctl.models.roles import (
    RoleConfig,
    _missing_key_message,
    _role_for,
    resolve_roles,
    stream_mode,
)
from agentctl.models.router import (
    EmptyReply,
    classify_failure,
    fallback_chain,
    short_error,
    summarise_attempts,
)

DEFAULT_RETRY_DELAYS = (1.0, 4.0)  # two retries per model, exponential-ish
DEFAULT_TIMEOUT = 600.0  # seconds per request; long generations on local models are slow
# A reply shown as it streams is worth litellm's streaming cost (several ms of CPU a call,
# about 4x a plain call's) only when it takes a while to arrive: after a model answered within
# this many seconds its next reply is asked for whole and shown at once, and after a slower
# one it streams again. The first call to each model streams.
STREAM_WHEN_SLOWER_THAN = 1.0
# AGENTCTL_STREAM can say `always` or `never` instead: see roles.stream_mode.


__all__ = ["ModelClient", "ModelError", "ModelReply", "build_model_client"]  # + re-exports


class ModelClient(Protocol):
    def complete(
        self,
        role: str,
        messages: list[dict],
        tools: list[dict],
        *,
        call_index: int,
        on_text: Callable[[str], None] | None = None,
    ) -> ModelReply: ...


# The key sent to a recipe's own api_base when its api_key_env names none.
NO_KEY = "sk-no-key-needed"
# Providers that authenticate with ambient cloud credentials rather than one key: never sent
# to a recipe's own api_base.
AMBIENT_CREDENTIAL_PROVIDERS = frozenset(
    {"bedrock", "bedrock_converse", "sagemaker", "sagemaker_chat", "vertex_ai", "vertex_ai_beta"}
)


# -- the live client ---------------------------------------------------------------------------


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
        mask: Callable[[Any], Any] | None = None,
        stream: str = "auto",
        stream_when_slower_than: float = STREAM_WHEN_SLOWER_THAN,
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
        self.local = LocalModels()  # local/ models' servers, started at their first call

    def close(self) -> None:
        """Stop what the client started (local model servers); the runner calls it when the
        job's steps end, however they end."""
        self.local.close()

    def estimate_call_cost(self, role: str, messages: list[dict]) -> float:
        """estimate_call_cost() for a role name, after overrides."""
        return estimate_call_cost(_role_for(self.roles, role), messages, self._size)

    def complete(
        self,
        role: str,
        messages: list[dict],
        tools: list[dict],
        *,
        call_index: int,
        on_text: Callable[[str], None] | None = None,
    ) -> ModelReply:
        chain = fallback_chain(self.roles, role)
        env = os.environ if self._env is None else self._env
        attempts: list[dict] = []
        last = ""
        for cfg in chain:
            spent = self.spent.get(cfg.name, 0.0)
            if cfg.max_cost_usd is not None and spent >= cfg.max_cost_usd:
                attempts.append(
                    {
                        "model": cfg.model,
                        "reason": "over budget",
                        "error": f"role '{cfg.name}' spent ${spent:.4f} of ${cfg.max_cost_usd:.4f}",
                    }
                )
                continue
            key = env.get(cfg.api_key_env) if cfg.api_key_env else None
            if cfg.api_key_env and not key:
                raise ModelError(
                    _missing_key_message(cfg), f"export {cfg.api_key_env}=...", attempts
                )
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
            for n in range(len(self.retry_delays) + 1):
                try:
                    reply = self._call(cfg, role, messages, tools, call_index, on_text, key)
                except Exception as exc:
                    kind, reason = classify_failure(exc)
                    last = short_error(exc, [key or ""])
                    attempts.append({"model": cfg.model, "error": last, "reason": reason})
                    if kind == "fatal":
                        raise self._fatal(cfg, reason, last, attempts) from None
                    if kind == "next" or n == len(self.retry_delays):
                        break
                    time.sleep(self.retry_delays[n])
                    continue
                reply.attempts = attempts
                with self._lock:
                    self.spent[cfg.name] = self.spent.get(cfg.name, 0.0) + reply.cost_usd
                if self.recorder:
                    # Secrets never reach the recording: it is stored like the log.
                    self.recorder.write(
                        call_index,
                        role,
                        cfg.model,
                        self.mask(messages),
                        tools,
                        self.mask(reply.to_dict()),
                    )
                return reply
        tried = summarise_attempts(attempts)
        if attempts and all(a["reason"] == "over budget" for a in attempts):
            raise ModelError(
                f"every model for role '{role}' is over its budget: {tried}",
                "raise max_cost_usd under the recipe's models, or add a fallback",
                attempts,
            )
        raise ModelError(
            f"model call failed for role '{role}' after trying {tried}; last error: {last}",
            "the provider may be down or rate-limiting: try again later (agentctl "
            "resume continues the job), or add fallbacks to the role",
            attempts,
        )

    @staticmethod
    def _fatal(cfg: RoleConfig, reason: str, error: str, attempts: list[dict]) -> ModelError:
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
        cfg: RoleConfig,
        role: str,
        messages: list[dict],
        tools: list[dict],
        call_index: int,
        on_text: Callable[[str], None] | None,
        key: str | None,
    ) -> ModelReply:
        lt = load_litellm()
        shaped = shape_call(self.local, cfg, messages, tools, key)  # local/ models, text tools
        kwargs: dict[str, Any] = {"timeout": self.timeout, **cfg.options}
        explicit = {
            "temperature": cfg.temperature,
            "max_tokens": cfg.max_tokens,
            "api_base": shaped.api_base,
            "api_key": shaped.api_key,
        }
        kwargs.update({k: v for k, v in explicit.items() if v is not None})
        # Retries are ours (with fallbacks and attempt records), not the OpenAI SDK's hidden ones.
        kwargs.update(
            model=shaped.model, messages=shaped.messages, tools=tools or None, max_retries=0
        )
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
        if shaped.free:
            cost = 0.0  # a local model: recorded as $0, its tokens as the server counted them
        elif cfg.input_cost_per_token is not None or cfg.output_cost_per_token is not None:
            cost = tin * (cfg.input_cost_per_token or 0.0) + tout * (
                cfg.output_cost_per_token or 0.0
            )
        else:
            details = getattr(usage, "prompt_tokens_details", None)
            cached = int(getattr(details, "cached_tokens", 0) or 0)
            cost = model_prices(cfg.model).cost(tin, tout, cached)
        return ModelReply(
            message=normalise_message(message, call_index, shaped.text_tools),
            model=cfg.model,
            role=role,
            input_tokens=tin,
            output_tokens=tout,
            cost_usd=cost,
            latency_ms=latency,
        )


# -- replay ----------------------------------------------------------------------------------


class ReplayClient:
    """Answers from a cassette by call_index: no network, no litellm import."""

    def __init__(self, path: Path, mask: Callable[[Any], Any] | None = None):
        self.path = Path(path)
        self.entries = cassette.load_cassette(self.path)
        # Recordings hold masked text: compare what we would send, masked the same way.
        self.mask = mask or (lambda value: value)
        self.spent: dict[str, float] = {}

    def estimate_call_cost(self, role: str, messages: list[dict]) -> float:
        return 0.0  # replays cost nothing

    def complete(
        self,
        role: str,
        messages: list[dict],
        tools: list[dict],
        *,
        call_index: int,
        on_text: Callable[[str], None] | None = None,
    ) -> ModelReply:
        entry = self.entries.get(call_index)
        hint = (
            "the run asked something the recording did not; record it again with --record FILE "
            f"(replaying {self.path})"
        )
        if entry is None:
            held = f"calls {min(self.entries)}-{max(self.entries)}" if self.entries else "no calls"
            raise ModelError(
                f"replay diverged at model call {call_index}: the recording has no "
                f"call {call_index} (it holds {held})",
                hint,
            )
        diff = cassette.describe_difference(entry.get("request") or {}, self.mask(messages), tools)
        if diff is None and entry.get("role", role) != role:
            diff = f"recorded role '{entry.get('role')}', now '{role}'"
        if diff:
            raise ModelError(f"replay diverged at model call {call_index}: {diff}", hint)
        reply = ModelReply.from_dict(entry["response"])
        self.spent[role] = self.spent.get(role, 0.0) + reply.cost_usd
        if on_text and reply.message.get("content"):
            on_text(reply.message["content"])
        return reply


def build_model_client(
    roles: Mapping[str, Any],
    overrides: Sequence[str] = (),
    *,
    env: Mapping[str, str] | None = None,
    record: Path | None = None,
    replay: Path | None = None,
    retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
    timeout: float = DEFAULT_TIMEOUT,
    mask: Callable[[Any], Any] | None = None,
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
