"""Loading litellm, lazily: the only place agentctl imports it.

Importing litellm costs seconds and ~200 MB, which `agentctl jobs`, `validate`, replayed runs
and tests of other modules must not pay: it is imported on first use (`load_litellm()`), or
in a daemon thread started early (`start_prefetch()`) so the import overlaps with job setup.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from typing import Any

from agentctl.models.replies import ModelError

_import_lock = threading.Lock()
_prefetch_thread: threading.Thread | None = None
_litellm_mod: Any = None


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


def load_litellm() -> Any:
    """litellm, imported now if need be (waiting for a prefetch under way)."""
    if _prefetch_thread is not None:
        _prefetch_thread.join()
    try:
        return _load_litellm()
    except ImportError as e:
        raise ModelError(
            f"cannot import litellm: {e}",
            "install agentctl's dependencies: pip install 'litellm>=1.100,!=1.107.0,<1.111'",
        ) from e


# What litellm imports at its first completion() of a process, not at its own import (~0.1 to
# 0.25 s of pydantic classes): a warm worker imports them once, so no forked job pays them.
# httpcore: httpx imports it when litellm builds its first HTTP client (~0.1 s of CPU); the
# others litellm imports at its first request to an OpenAI-compatible server (~0.1 s more).
FIRST_CALL_MODULES = (
    "litellm.proxy.openai_files_endpoints.common_utils",
    "httpcore",
    "litellm._service_logger",
    "litellm.integrations.generic_api.generic_api_callback",
    "litellm.integrations.prometheus_services",
    "litellm.litellm_core_utils.logging_callback_manager",
    "litellm.llms.github_copilot.authenticator",
    "litellm.llms.github_copilot.github_host",
    "litellm.llms.github_copilot.per_user_auth",
    "litellm.llms.litellm_proxy.chat.transformation",
    "litellm.llms.openai.chat.gpt_audio_transformation",
    "litellm.llms.openai_like.dynamic_config",
    "litellm.proxy.spend_tracking",
)
# An OpenAI-shaped answer: validating it completes the pydantic classes litellm and openai
# build lazily at their first reply (~40 ms), once in the warm worker instead of every job.
_WARM_REPLY: dict[str, Any] = {
    "id": "warm-up",
    "object": "chat.completion",
    "created": 0,
    "model": "warm-up",
    "choices": [
        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}


def warm_litellm() -> list[str]:
    """Load litellm and what its first call would import; the modules that loaded."""
    import importlib

    load_litellm()
    loaded = []
    for name in FIRST_CALL_MODULES:
        try:
            importlib.import_module(name)
            loaded.append(name)
        except ImportError:  # a litellm that moved it: its first call imports what it needs
            pass
    _complete_reply_classes()
    return loaded


def _complete_reply_classes() -> None:
    """Build the reply classes litellm and openai complete at their first answer (no request,
    no thread: the worker forks after this)."""
    try:
        from litellm.types.router import GenericLiteLLMParams, LiteLLM_Params
        from litellm.types.utils import ModelResponse
        from openai.types.chat import ChatCompletion

        ChatCompletion.model_validate(_WARM_REPLY)
        ModelResponse(**_WARM_REPLY)
        GenericLiteLLMParams()
        LiteLLM_Params(model="openai/warm-up")
    except Exception:  # another litellm or openai: the first reply builds what it needs
        pass


def litellm_loading() -> bool:
    """litellm is loaded, or being loaded: asking it something costs no import."""
    return _litellm_mod is not None or _prefetch_thread is not None


def client_loading() -> bool:
    """litellm is being imported right now (the live view says "loading the model client"
    rather than "waiting for the model" meanwhile); False before, after, and when a replayed
    run never loads it."""
    prefetching = _prefetch_thread is not None and _prefetch_thread.is_alive()
    return _litellm_mod is None and (prefetching or _import_lock.locked())


def litellm_loaded() -> bool:
    return _litellm_mod is not None
