"""Model roles: a recipe's `models:` plus `--model` overrides and AGENTCTL_MODEL, resolved.

No litellm here: `run` checks that every role it needs has a model before a job exists.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from agentctl.errors import UsageError
from agentctl.models import cassette

DEFAULT_ROLE = "default"
_ROLE_OVERRIDE = re.compile(r"^([A-Za-z_][A-Za-z0-9_-]*)=(.*)$")


@dataclass(frozen=True)
class InlineModel:
    """A fallback written out in place: its own endpoint and key (unset: the provider's)."""

    model: str
    api_base: str | None = None
    api_key_env: str | None = None


@dataclass
class RoleConfig:
    """A role as this module uses it: a normalised copy of the recipe's ModelRole."""

    name: str
    model: str = ""
    fallbacks: list[str | InlineModel] = field(default_factory=list)
    temperature: float | None = None
    max_tokens: int | None = None
    api_base: str | None = None
    api_key_env: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    input_cost_per_token: float | None = None
    output_cost_per_token: float | None = None
    max_cost_usd: float | None = None
    # Local models and tool calls written as text (agentctl.models.local, .textcalls).
    local: dict[str, Any] = field(default_factory=dict)
    tool_calls: str | None = None
    tool_results: str | None = None
    # Issue 22: one request's time (None: options.timeout, else the client's default) and how
    # long a model that failed is skipped in favour of its fallbacks (None: the default).
    timeout: float | None = None
    cooldown: float | None = None


_ROLE_FIELDS = [f for f in RoleConfig.__dataclass_fields__ if f != "name"]


def _role_config(name: str, obj: Any) -> RoleConfig:
    """Duck-typed: a ModelRole-like object, a mapping with those keys, or a bare model string."""
    if obj is None:
        return RoleConfig(name)
    if isinstance(obj, str):
        return RoleConfig(name, model=obj)
    get = obj.get if isinstance(obj, Mapping) else (lambda k, d=None: getattr(obj, k, d))
    vals = {f: get(f, None) for f in _ROLE_FIELDS}
    vals["model"] = vals["model"] or ""
    vals["fallbacks"] = [_fallback(f) for f in vals["fallbacks"] or []]
    vals["options"] = dict(vals["options"] or {})
    local = vals["local"]
    dump = getattr(local, "model_dump", None)
    vals["local"] = dump(exclude_none=True) if dump is not None else dict(local or {})
    path = get("path", None)
    if path and not vals["model"]:
        vals["model"] = f"local/{path}"  # a role's `path:` (resolved by local.local_overrides)
    return RoleConfig(name, **vals)


def _fallback(obj: Any) -> str | InlineModel:
    """A role name or model string as it is; an inline model (a mapping or an object with
    `model`) as an InlineModel."""
    if isinstance(obj, (str, InlineModel)):
        return obj
    get = obj.get if isinstance(obj, Mapping) else (lambda k, d=None: getattr(obj, k, d))
    return InlineModel(str(get("model", "")), get("api_base", None), get("api_key_env", None))


# Options that name an endpoint or carry a credential: an inline fallback has its own.
_ENDPOINT_OPTIONS = frozenset({"api_base", "base_url", "api_key", "api_version", "extra_headers"})


def inline_role(role: RoleConfig, inline: InlineModel) -> RoleConfig:
    """The role an inline fallback runs as: the asking role's settings (timeout, tokens,
    options...) with the fallback's model, endpoint and key, and none of the role's prices,
    budget or fallbacks (those belong to the role's own model)."""
    return replace(
        role,
        model=inline.model,
        api_base=inline.api_base,
        api_key_env=inline.api_key_env,
        options={k: v for k, v in role.options.items() if k not in _ENDPOINT_OPTIONS},
        fallbacks=[],
        input_cost_per_token=None,
        output_cost_per_token=None,
        max_cost_usd=None,
    )


def fallback_models(roles: Mapping[str, RoleConfig], role: RoleConfig) -> list[str]:
    """The model strings of a role's fallbacks: a named role's model, an inline model's, or
    the string itself."""
    out = []
    for fb in role.fallbacks:
        if isinstance(fb, InlineModel):
            out.append(fb.model)
        else:
            out.append(roles[fb].model if fb in roles else fb)
    return out


def resolve_roles(
    roles: Mapping[str, Any], overrides: Sequence[str] = (), env: Mapping[str, str] | None = None
) -> dict[str, RoleConfig]:
    """Roles after `--model` overrides and AGENTCTL_MODEL. `MODEL` sets the default role's
    model; `ROLE=MODEL` (identifier-like ROLE) another role's; both create missing roles."""
    env = os.environ if env is None else env
    out = {name: _role_config(name, obj) for name, obj in (roles or {}).items()}
    out.setdefault(DEFAULT_ROLE, RoleConfig(DEFAULT_ROLE))
    for ov in overrides or ():
        ov = ov.strip()
        m = _ROLE_OVERRIDE.match(ov)
        name, model = (m.group(1), m.group(2).strip()) if m else (DEFAULT_ROLE, ov)
        if not model:
            raise UsageError(
                f"--model {ov!r} names no model", "use --model MODEL or --model ROLE=MODEL"
            )
        role = out.setdefault(name, RoleConfig(name))
        if role.model != model:
            # The recipe's prices belong to the recipe's model, not the one swapped in.
            role.input_cost_per_token = role.output_cost_per_token = None
        role.model = model
    if not out[DEFAULT_ROLE].model and env.get("AGENTCTL_MODEL", "").strip():
        out[DEFAULT_ROLE].model = env["AGENTCTL_MODEL"].strip()
    return out


def _role_for(roles: Mapping[str, RoleConfig], name: str) -> RoleConfig:
    """A role missing from the recipe, or without a model, uses the default role."""
    role = roles.get(name)
    if role is not None and role.model:
        return role
    default = roles.get(DEFAULT_ROLE)
    if default is not None and default.model:
        return default
    raise _no_model_error(name)


def _no_model_error(role: str) -> UsageError:
    which = "" if role == DEFAULT_ROLE else f" for role '{role}' (and none for 'default')"
    return UsageError(
        f"no model is configured{which}",
        "pick one of: (1) set a provider key, e.g. OPENAI_API_KEY, and pass "
        "--model openai/gpt-4.1-mini (or set AGENTCTL_MODEL); (2) run a local OpenAI-compatible "
        "server (Ollama, llama.cpp, vLLM) and pass --model openai/NAME with api_base under the "
        "recipe's models; (3) replay a recorded run with --replay FILE",
    )


def _missing_key_message(role: RoleConfig) -> str:
    return f"role '{role.name}' reads its API key from ${role.api_key_env}, which is not set"


# Where litellm looks for each provider's key, by the model string's prefix (the first name
# found counts). A model that names none of these, or reaches its server through `api_base`,
# `api_key_env` or `options.api_key`, is not checked here: its first call tells.
PROVIDER_KEY_ENV: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "mistral": ("MISTRAL_API_KEY",),
    "groq": ("GROQ_API_KEY",),
    "cohere": ("COHERE_API_KEY", "CO_API_KEY"),
    "cohere_chat": ("COHERE_API_KEY", "CO_API_KEY"),
    "together_ai": ("TOGETHERAI_API_KEY", "TOGETHER_API_KEY", "TOGETHER_AI_API_KEY"),
    "openrouter": ("OPENROUTER_API_KEY", "OR_API_KEY"),
    "deepseek": ("DEEPSEEK_API_KEY",),
    "xai": ("XAI_API_KEY",),
    "fireworks_ai": ("FIREWORKS_AI_API_KEY", "FIREWORKS_API_KEY", "FIREWORKSAI_API_KEY"),
    "perplexity": ("PERPLEXITYAI_API_KEY", "PERPLEXITY_API_KEY"),
}
_BARE_MODELS: tuple[tuple[str, str], ...] = (
    ("gpt-", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
)
_BARE_MODELS += (("chatgpt-", "openai"), ("claude-", "anthropic"))


def key_names_for(role: RoleConfig, model: str) -> tuple[str, ...]:
    """The environment names one of which must hold `model`'s key; () when not checkable."""
    if role.api_base or role.api_key_env or role.options.get("api_key"):
        return ()
    provider, _, rest = model.partition("/")
    if not rest:
        provider = next((p for prefix, p in _BARE_MODELS if model.startswith(prefix)), "")
    return PROVIDER_KEY_ENV.get(provider, ())


def check_provider_keys(
    resolved: Mapping[str, RoleConfig], needed_roles: set[str], env: Mapping[str, str]
) -> None:
    """A role none of whose models (its own, then its fallbacks) has its provider's key set
    fails now, before the first step, rather than after the steps before it ran."""
    for name in sorted(needed_roles):
        role = _role_for(resolved, name)
        chain = [(role, role.model)]
        for fallback in role.fallbacks:
            if isinstance(fallback, InlineModel):
                chain.append((inline_role(role, fallback), fallback.model))
                continue
            other = resolved.get(fallback)
            chain.append((other, other.model) if other is not None else (role, fallback))
        wanted = [key_names_for(config, model) for config, model in chain]
        if any(not names or any(env.get(n, "").strip() for n in names) for names in wanted):
            continue
        model, names = chain[0][1], wanted[0]
        raise UsageError(
            f"no API key for {model} (role '{role.name}'): {' or '.join(names)} is not set",
            f"export {names[0]}=... and run again; or use a local server (api_base under the"
            " recipe's models), or replay a recording with --replay FILE",
        )


# AGENTCTL_STREAM: when the live view shows a reply as it streams. `auto`: while the model is
# slow (see calls.STREAM_WHEN_SLOWER_THAN); `always`; `never` (replies are shown whole, e.g.
# behind a proxy that breaks server-sent events).
STREAM_MODES = ("auto", "always", "never")


def stream_mode(env: Mapping[str, str] | None = None) -> str:
    """AGENTCTL_STREAM's mode ("auto" when unset); UsageError (exit 2) for another value."""
    value = (os.environ if env is None else env).get("AGENTCTL_STREAM", "").strip()
    if not value:
        return "auto"
    if value.lower() not in STREAM_MODES:
        raise UsageError(
            f"AGENTCTL_STREAM={value!r} is not one of {', '.join(STREAM_MODES)}",
            "unset it, or set auto (the default: stream while replies are slow), always or never",
        )
    return value.lower()


def check_models_configured(
    roles: Mapping[str, Any],
    overrides: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    needed_roles: Collection[str] = frozenset(),
    replay: Path | None = None,
) -> None:
    """Raise UsageError (exit 2) now, before a job exists, if a needed role has no model or its
    api_key_env is unset. With --replay nothing is needed but the file. A recipe with no
    agent step needs no model."""
    if not needed_roles:
        return
    if replay is not None:
        cassette.load_cassette(Path(replay))
        return
    env = os.environ if env is None else env
    stream_mode(env)
    resolved = resolve_roles(roles, overrides, env)
    for name in sorted(needed_roles):
        role = _role_for(resolved, name)
        if role.api_key_env and not env.get(role.api_key_env):
            raise UsageError(
                _missing_key_message(role),
                f"export {role.api_key_env}=... or change api_key_env under the recipe's models",
            )
    check_provider_keys(resolved, set(needed_roles), env)
