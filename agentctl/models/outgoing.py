"""What one call sends, by its role: where it goes (a local model's server) and how tools are
told (as text, for models that write calls as text or whose template knows no tools).

The live client asks `shape_call` before each request; for a role with a provider model and
neither text option it returns the request as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agentctl.models.local import LocalModels, is_local_model
from agentctl.models.roles import RoleConfig


@dataclass(frozen=True)
class ShapedCall:
    model: str  # what litellm is given
    api_base: str | None
    api_key: str | None
    messages: list[dict[str, Any]]
    text_tools: frozenset[str] | None  # offered tool names to find in the text; None: no
    free: bool  # a local model: the call costs nothing


def shape_call(
    local: LocalModels,
    cfg: RoleConfig,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    key: str | None,
) -> ShapedCall:
    """The request for `cfg`'s model. A local model's server is started here at its first
    call (seconds), so the time shows in the step that needs it."""
    endpoint = local.endpoint(cfg.model, cfg.local) if is_local_model(cfg.model) else None
    tool_calls = cfg.tool_calls or ("text" if endpoint is not None else "native")
    as_user = cfg.tool_results == "user" or (
        cfg.tool_results is None and endpoint is not None and not endpoint.template_has_tool_role
    )
    sent = messages
    if as_user or (tools and endpoint is not None and not endpoint.template_has_tools):
        from agentctl.models import textcalls

        if tools and endpoint is not None and not endpoint.template_has_tools:
            sent = textcalls.with_tools_prompt(sent, tools)
        if as_user:
            sent = textcalls.tools_as_text(sent)
    names = None
    if tool_calls == "text" and tools:
        from agentctl.models.textcalls import offered_names

        names = frozenset(offered_names(tools))
    if endpoint is None:
        return ShapedCall(cfg.model, cfg.api_base, key, sent, names, False)
    return ShapedCall(endpoint.model, endpoint.api_base, endpoint.api_key, sent, names, True)
