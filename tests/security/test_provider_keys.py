"""A recipe's own api_base never receives an ambient provider key (issue 11, item 7)."""

from __future__ import annotations

import json

import pytest
from fakeserver import ScriptedOpenAIServer
from test_models import MSGS, Role, client_for

from agentctl.models.calls import ModelError

pytestmark = pytest.mark.slow

AMBIENT = {
    "OPENAI_API_KEY": "sk-ambient-openai-0123456789abcdef",
    "ANTHROPIC_API_KEY": "sk-ant-ambient-0123456789abcdef",
    "MISTRAL_API_KEY": "ambient-mistral-0123456789abcdef",
    "GROQ_API_KEY": "gsk_ambient-groq-0123456789abcdef",
}
# Models a recipe could point at its own server; none may carry the ambient keys there.
MODELS = [
    "anthropic/claude-sonnet-4-5",
    "gpt-4o-mini",
    "openai/gpt-4.1-mini",
    "mistral/mistral-large-latest",
    "groq/llama3-8b-8192",
]


@pytest.mark.parametrize("model", MODELS)
def test_api_base_without_key_env_gets_no_ambient_key(model, monkeypatch):
    for name, value in AMBIENT.items():
        monkeypatch.setenv(name, value)
    with ScriptedOpenAIServer() as server:
        server.add({"content": "hi"})
        client = client_for(("default", Role(model, api_base=server.base_url, api_key_env=None)))
        try:
            client.complete("default", MSGS, [], call_index=0)
        except ModelError:
            pass  # the fake server speaks OpenAI only; what it was sent is what matters
        sent = json.dumps(server.requests)
    assert server.requests, "the request never reached the recipe's server"
    for value in AMBIENT.values():
        assert value not in sent, model


def test_api_base_with_key_env_gets_that_key_only(monkeypatch):
    for name, value in AMBIENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MY_SERVER_KEY", "my-own-server-key-123456")
    with ScriptedOpenAIServer() as server:
        server.add({"content": "hi"})
        role = Role("openai/m", api_base=server.base_url, api_key_env="MY_SERVER_KEY")
        client_for(("default", role)).complete("default", MSGS, [], call_index=0)
        sent = json.dumps(server.requests)
    assert "my-own-server-key-123456" in sent
    assert not any(value in sent for value in AMBIENT.values())


def test_cloud_signed_providers_are_never_sent_to_a_custom_api_base(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "ambient-aws-secret-0123456789")
    with ScriptedOpenAIServer() as server:
        role = Role("bedrock/anthropic.claude-3", api_base=server.base_url, api_key_env=None)
        with pytest.raises(ModelError, match="cloud credentials"):
            client_for(("default", role)).complete("default", MSGS, [], call_index=0)
        assert server.requests == []
