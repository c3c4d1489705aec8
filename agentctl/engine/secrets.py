"""The secrets of one job: values masked wherever the job's text is kept or shown."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentctl.policy.rules import PolicySet
    from agentctl.recipe.schema import Recipe
    from agentctl.redact import Redactor

# Provider keys litellm reads by itself: their values are secrets even if no recipe names them.
PROVIDER_KEY_NAMES = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "MISTRAL_API_KEY",
    "GROQ_API_KEY",
    "AZURE_API_KEY",
    "COHERE_API_KEY",
    "TOGETHER_API_KEY",
    "OPENROUTER_API_KEY",
    "AWS_SECRET_ACCESS_KEY",
    "GITHUB_TOKEN",
    "GH_TOKEN",
)


def job_redactor(
    recipe: Recipe, policy: PolicySet, env: Mapping[str, str], workspace: Path | None = None
) -> Redactor:
    from agentctl.redact import Redactor, env_file_secrets, history_env_secrets

    names = set(recipe.env) | set(PROVIDER_KEY_NAMES)
    names |= {role.api_key_env for role in recipe.models.values() if role.api_key_env}
    names |= {name for server in recipe.mcp.values() for name in server.env}
    values = [env[name] for name in sorted(names) if env.get(name)]
    if workspace is not None:  # values in the workspace's .env files are secrets too
        values += env_file_secrets(workspace)
        values += history_env_secrets(workspace)  # and in those its git history holds
    if any(server.headers for server in recipe.mcp.values()):
        from agentctl.tools.mcp_client import render_headers

        # A remote MCP server's header values are secrets even when written in the recipe.
        for server in recipe.mcp.values():
            values += [v for v in render_headers(server.headers, env).values() if len(v) >= 8]
    return Redactor(values=values, patterns=policy.redact)
