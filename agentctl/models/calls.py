"""Talking to language models: roles, overrides, fallbacks, retries, budgets, cost, replay.

This is the only module that imports litellm, and only lazily (in `_litellm()` or the
`start_prefetch()` thread): importing it costs seconds and ~200 MB, which `agentctl jobs`,
`validate`, replayed runs and tests of other modules must not pay.

The engine sees one thing: `ModelClient.complete(role, messages, tools, call_index=...)`
returning a `ModelReply` with an OpenAI-format assistant message. Record/replay files are in
agentctl.models.cassette.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from agentctl.errors import AgentctlError, UsageError
from agentctl.models import cassette
from agentctl.models.replies import assemble_stream, normalise_message
from agentctl.models.roles import (
    DEFAULT_ROLE,
    RoleConfig,
    _missing_key_message,
    _role_config,
    _role_for,
    resolve_roles,
    stream_mode,
)

DEFAULT_RETRY_DELAYS = (1.0, 4.0)  # two retries per model, exponential-ish
DEFAULT_TIMEOUT = 600.0  # seconds per request; long generations on local models are slow
# A reply shown as it streams is worth litellm's streaming cost (several ms of CPU a call,
# about 4x a plain call's) only when it takes a while to arrive: after a model answered within
# this many seconds its next reply is asked for whole and shown at once, and after a slower
# one it streams again. The first call to each model streams.
STREAM_WHEN_SLOWER_THAN = 1.0
# AGENTCTL_STREAM can say `always` or `never` instead: see roles.stream_mode.


# -- results and errors --------------------------------------------------------------------


@dataclass
class ModelReply:
    message: (
        dict  # {"role": "assistant", "content": str|None, "tool_calls": [...]} (no key if none)
    )
    model: str  # the litellm model string that answered
    role: str  # the role asked
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    attempts: list[dict] = field(default_factory=list)  # failed tries: {"model", "error", "reason"}

    def to_dict(self) -> dict:
        # By hand: dataclasses.asdict deep-copies every value, a quarter of a step's budget.
        return {
            "message": self.message,
            "model": self.model,
            "role": self.role,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd,
            "latency_ms": self.latency_ms,
            "attempts": list(self.attempts),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelReply:
        return cls(
            message=copy.deepcopy(dict(d["message"])),
            model=str(d.get("model", "")),
            role=str(d.get("role", DEFAULT_ROLE)),
            input_tokens=int(d.get("input_tokens") or 0),
            output_tokens=int(d.get("output_tokens") or 0),
            cost_usd=float(d.get("cost_usd") or 0.0),
            latency_ms=float(d.get("latency_ms") or 0.0),
            attempts=copy.deepcopy(list(d.get("attempts") or [])),
        )


class ModelError(AgentctlError):
    """A model call failed for good (exit 1). `attempts` lists every failed try."""

    def __init__(self, message: str, hint: str = "", attempts: list[dict] | None = None):
        super().__init__(message, hint)
        self.attempts = attempts or []


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


# -- lazy litellm ----------------------------------------------------------------------------

_import_lock = threading.Lock()
_prefetch_thread: threading.Thread | None = None
_litellm_mod: Any = None


# The key sent to a recipe's own api_base when its api_key_env names none.
NO_KEY = "sk-no-key-needed"
# Providers that authenticate with ambient cloud credentials rather than one key: never sent
# to a recipe's own api_base.
AMBIENT_CREDENTIAL_PROVIDERS = frozenset(
    {"bedrock", "bedrock_converse", "sagemaker", "sagemaker_chat", "vertex_ai", "vertex_ai_beta"}
)


def _load_litellm() -> Any:
    global _litellm_mod
    with _import_lock:
        if _litellm_mod is None:
            # Use the bundled price table: otherwise import fetches it from GitHub (and retries
            # with sleeps when offline).
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            import litellm

            litellm.telemetry = False
            # Stream success logging: a new asyncio loop per streamed call, in a worker thread,
            # feeding callbacks agentctl never registers (the live view's step on the bench
            # went from 36 to 21 ms with it off).
            litellm.disable_streaming_logging = True
            litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banners on errors
            for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
                logging.getLogger(name).setLevel(logging.ERROR)
            # litellm's pydantic models warn on first use; that is noise on a user's terminal.
            warnings.filterwarnings(
                "ignore", message=r"Item '.*' on TypedDict class", category=UserWarning
            )
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"litellm(\.|$)")
            _litellm_mod = litellm
            from agentctl import gc_tuning

            gc_tuning.loaded()  # litellm's objects live until exit: see gc_tuning
        return _litellm_mod


def _prefetch() -> None:
    try:
        _load_litellm()
    except Exception:  # the real call re-imports and reports the error where it matters
        pass


def start_prefetch() -> None:
    """Begin importing litellm in a daemon thread so it overlaps with job setup. Idempotent."""
    global _prefetch_thread
    if _prefetch_thread is None and _litellm_mod is None:
        _prefetch_thread = threading.Thread(target=_prefetch, name="litellm-prefetch", daemon=True)
        _prefetch_thread.start()


def _litellm() -> Any:
    if _prefetch_thread is not None:
        _prefetch_thread.join()
    try:
        return _load_litellm()
    except ImportError as e:
        raise ModelError(
            f"cannot import litellm: {e}",
            "install agentctl's dependencies: pip install 'litellm>=1.100,!=1.107.0,<1.111'",
        ) from e


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
            info = _litellm().get_model_info(model)
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
    if inp is None and outp is None and cfg.model and (_litellm_mod or _prefetch_thread):
        prices = model_prices(cfg.model)
        inp, outp = prices.input, prices.output
    return prompt_tokens * (inp or 0.0) + out_tokens * (outp or 0.0)


# -- the live client ---------------------------------------------------------------------------


class _EmptyReply(Exception):
    """The provider answered with no choices (treated like a transient server fault)."""


def _classify(exc: BaseException) -> tuple[str, str]:
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
    if isinstance(exc, _EmptyReply):
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


def _short(exc: BaseException, secrets: Sequence[str]) -> str:
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "***")  # provider errors sometimes echo (part of) the key
    return text[:300]


def _summarise(attempts: list[dict]) -> str:
    """'a (server error (500) x3), b (connection error)': repeats folded, order kept."""
    groups: list[list] = []
    for a in attempts:
        if groups and groups[-1][0] == (a["model"], a["reason"]):
            groups[-1][1] += 1
        else:
            groups.append([(a["model"], a["reason"]), 1])
    return ", ".join(f"{m} ({r}{f' x{n}' if n > 1 else ''})" for (m, r), n in groups)


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

    def estimate_call_cost(self, role: str, messages: list[dict]) -> float:
        """estimate_call_cost() for a role name, after overrides."""
        return estimate_call_cost(_role_for(self.roles, role), messages, self._size)

    def _chain(self, name: str) -> list[RoleConfig]:
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
                target = self.roles.get(fb)
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

        add(_role_for(self.roles, name))
        return chain

    def complete(
        self,
        role: str,
        messages: list[dict],
        tools: list[dict],
        *,
        call_index: int,
        on_text: Callable[[str], None] | None = None,
    ) -> ModelReply:
        chain = self._chain(role)
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
                    kind, reason = _classify(exc)
                    last = _short(exc, [key or ""])
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
        tried = _summarise(attempts)
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
        lt = _litellm()
        kwargs: dict[str, Any] = {"timeout": self.timeout, **cfg.options}
        explicit = {
            "temperature": cfg.temperature,
            "max_tokens": cfg.max_tokens,
            "api_base": cfg.api_base,
            "api_key": key,
        }
        kwargs.update({k: v for k, v in explicit.items() if v is not None})
        # Retries are ours (with fallbacks and attempt records), not the OpenAI SDK's hidden ones.
        kwargs.update(model=cfg.model, messages=messages, tools=tools or None, max_retries=0)
        t0 = time.monotonic()
        stream = on_text is not None and (
            self.stream == "always"
            or (self.stream == "auto" and not self._quick.get(cfg.model, False))
        )
        if not stream:
            resp = lt.completion(**kwargs)
            latency = (time.monotonic() - t0) * 1000
            if resp is None or not getattr(resp, "choices", None):
                raise _EmptyReply("the provider returned no choices")
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
                raise _EmptyReply("the provider returned no choices")
        self._quick[cfg.model] = latency < self.stream_when_slower_than * 1000
        tin = int(getattr(usage, "prompt_tokens", 0) or 0)
        tout = int(getattr(usage, "completion_tokens", 0) or 0)
        if cfg.input_cost_per_token is not None or cfg.output_cost_per_token is not None:
            cost = tin * (cfg.input_cost_per_token or 0.0) + tout * (
                cfg.output_cost_per_token or 0.0
            )
        else:
            details = getattr(usage, "prompt_tokens_details", None)
            cached = int(getattr(details, "cached_tokens", 0) or 0)
            cost = model_prices(cfg.model).cost(tin, tout, cached)
        return ModelReply(
            message=normalise_message(message, call_index),
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
