"""A recipe's model roles (`models:`): a litellm model string or a GGUF file, its fallbacks,
a local server's options, prices, limits and time settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from agentctl.fieldtypes import Duration, NonNegFloat, PosFloat, PosInt
from agentctl.yamlload import FieldError

_STRICT = ConfigDict(extra="forbid")


class LocalServerOptions(BaseModel):
    """A `local/` model's server (agentctl.models.local): threads, context tokens per
    request, parallel request slots. Unset: chosen for the machine and the model."""

    model_config = _STRICT
    threads: PosInt | None = None
    context: PosInt | None = None
    parallel: PosInt | None = None


class FallbackModel(BaseModel):
    """A fallback written out in place (issue 22): its own endpoint and key."""

    model_config = _STRICT
    model: str = Field(min_length=1)
    api_base: str | None = None
    api_key_env: str | None = None


def _fallback_form(value: Any) -> str:
    return "<inline>" if isinstance(value, Mapping) else "<name>"


# A role name or model string, or an inline model; a mapping is only ever read as the latter,
# so its errors name its own keys (error paths leave out the `<tags>`: yamlload.error_path).
Fallback = Annotated[
    Annotated[str, Tag("<name>")] | Annotated[FallbackModel, Tag("<inline>")],
    Discriminator(_fallback_form),
]


class ModelRole(BaseModel):
    model_config = _STRICT
    # `model:` or `path:` (a GGUF file, relative to the recipe's folder: `local/PATH`).
    model: str = ""
    path: str | None = Field(default=None, min_length=1)
    local: LocalServerOptions | None = None
    # `text`: tool calls the model writes as text become real ones (default for local/);
    # `user`: tool results are sent as user messages (default for local/ models whose chat
    # template shows no `tool` messages). See agentctl.models.textcalls.
    tool_calls: Literal["native", "text"] | None = None
    tool_results: Literal["tool", "user"] | None = None
    fallbacks: list[Fallback] = []
    temperature: NonNegFloat | None = None
    max_tokens: PosInt | None = None
    api_base: str | None = None
    api_key_env: str | None = None
    options: dict[str, Any] = {}
    input_cost_per_token: NonNegFloat | None = None
    output_cost_per_token: NonNegFloat | None = None
    max_cost_usd: PosFloat | None = None
    # Issue 22's time and routing settings, kept together.
    timeout: Duration = None  # one request (default 120 s); the job's limits.timeout caps it
    cooldown: Duration = None  # a model that failed is skipped this long (default 60 s)

    @model_validator(mode="after")
    def _model_or_path(self) -> ModelRole:
        if self.path is not None and self.model:
            raise FieldError(
                ("path",),
                "a role names its model once: model: or path:",
                "keep path: for a GGUF file (it runs as local/PATH), or model: for the rest",
            )
        if self.path is None and not self.model:
            raise FieldError(
                ("model",),
                "a model role needs model: (e.g. openai/gpt-4.1-mini) or path: (a GGUF file)",
                "add model: or path:",
            )
        return self
