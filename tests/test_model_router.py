"""Fallbacks like a router (issue 22): a model that failed is passed over for a cooldown, a
fallback may be an inline model with its own endpoint and key, and every reply says which
role, model and endpoint answered. Through tests/fakeserver.py, so litellm's HTTP path runs."""

from __future__ import annotations

import json

import pytest
from conftest import assert_bad_input, invoke, write
from fakeserver import ScriptedOpenAIServer

from agentctl.models.calls import build_model_client
from agentctl.models.replies import ModelReply
from agentctl.models.router import Cooldowns
from agentctl.ui.event_lines import describe_event

pytestmark = [
    pytest.mark.slow,  # the first litellm call of the session pays its import
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Item .* on TypedDict class:UserWarning"),
]

MSGS = [{"role": "user", "content": "hello"}]
NO_WAIT = (0.0, 0.0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def dead_url() -> str:
    gone = ScriptedOpenAIServer().start()
    url = gone.base_url
    gone.stop()
    return url


def test_a_failed_primary_is_passed_over_until_its_cooldown_ends():
    # Observed: with fallbacks, every call retried the dead primary 3 times first.
    clock = Clock()
    with (
        ScriptedOpenAIServer(exhausted={"status": 500}) as primary,
        ScriptedOpenAIServer() as backup,
    ):
        roles = {
            "default": {
                "model": "openai/primary",
                "api_base": primary.base_url,
                "fallbacks": ["backup"],
                "cooldown": 30.0,
            },
            "backup": {"model": "openai/backup", "api_base": backup.base_url},
        }
        client = build_model_client(roles, retry_delays=NO_WAIT)
        client.cooldowns = Cooldowns(clock)  # type: ignore[attr-defined]
        first = client.complete("default", MSGS, [], call_index=0)
        assert first.model == "openai/backup" and len(primary.chat_requests) == 3
        clock.now += 29
        second = client.complete("default", MSGS, [], call_index=1)
        assert second.model == "openai/backup"
        assert len(primary.chat_requests) == 3  # not asked again while it cools down
        assert [a["reason"] for a in second.attempts] == ["cooling down"]
        line = describe_event("model_response", None, {"reply": second.to_dict()})
        assert "openai/primary cooling down" in line and "failed tr" not in line
        clock.now += 2  # the role's 30 s are over: the primary is tried again
        client.complete("default", MSGS, [], call_index=2)
        assert len(primary.chat_requests) == 6
    assert len(backup.chat_requests) == 3


def test_a_model_that_answers_again_leaves_its_cooldown_and_every_cooling_model_is_tried():
    clock = Clock()
    url = dead_url()
    with ScriptedOpenAIServer() as live:
        # Without a fallback that is not cooling down, each model is tried as before.
        roles = {"default": {"model": "openai/only", "api_base": url}}
        client = build_model_client(roles, retry_delays=NO_WAIT)
        client.cooldowns = Cooldowns(clock)  # type: ignore[attr-defined]
        for n in range(2):
            with pytest.raises(Exception, match="connection error"):
                client.complete("default", MSGS, [], call_index=n)
        roles = {"default": {"model": "openai/fake-model", "api_base": live.base_url}}
        client = build_model_client(roles, retry_delays=NO_WAIT)
        client.cooldowns = cooldowns = Cooldowns(clock)  # type: ignore[attr-defined]
        cfg = client.roles["default"]  # type: ignore[attr-defined]
        cooldowns.start(cfg, 60)
        reply = client.complete("default", MSGS, [], call_index=0)
        assert reply.message["content"] == "done" and cooldowns.left(cfg) == 0


def test_an_inline_fallback_has_its_own_endpoint_and_key(monkeypatch):
    monkeypatch.setenv("PRIMARY_KEY", "sk-primary-key-000001")
    monkeypatch.setenv("BACKUP_KEY", "sk-backup-key-000002")
    with ScriptedOpenAIServer(exhausted={"status": 503}) as primary, ScriptedOpenAIServer() as b:
        roles = {
            "default": {
                "model": "openai/primary",
                "api_base": primary.base_url,
                "api_key_env": "PRIMARY_KEY",
                "fallbacks": [
                    {"model": "openai/backup", "api_base": b.base_url, "api_key_env": "BACKUP_KEY"}
                ],
            }
        }
        reply = build_model_client(roles, retry_delays=NO_WAIT).complete(
            "default", MSGS, [], call_index=0
        )
        sent = b.chat_requests[0]
    assert reply.model == "openai/backup" and reply.answered_by == "default"
    assert reply.endpoint == f"127.0.0.1:{b.port}"
    assert sent["headers"]["authorization"] == "Bearer sk-backup-key-000002"
    assert sent["body"]["model"] == "backup"


def test_every_reply_records_the_role_model_and_endpoint_that_answered():
    with ScriptedOpenAIServer([{"status": 500}] * 3) as primary, ScriptedOpenAIServer() as b:
        roles = {
            "default": {"model": "openai/primary", "api_base": primary.base_url},
            "planner": {
                "model": "openai/primary",
                "api_base": primary.base_url,
                "fallbacks": ["backup"],
            },
            "backup": {"model": "openai/backup-model", "api_base": b.base_url},
        }
        reply = build_model_client(roles, retry_delays=NO_WAIT).complete(
            "planner", MSGS, [], call_index=0
        )
    data = reply.to_dict()
    assert (data["role"], data["answered_by"], data["model"]) == (
        "planner",
        "backup",
        "openai/backup-model",
    )
    assert data["endpoint"] == f"127.0.0.1:{b.port}"
    assert ModelReply.from_dict(data).endpoint == data["endpoint"]
    line = describe_event("model_response", None, {"reply": data})
    assert f"openai/backup-model at 127.0.0.1:{b.port} (role backup, for planner)" in line


RECIPE = """\
version: 1
name: fb
models:
  default:
    model: openai/primary
    api_base: http://127.0.0.1:9/v1
    fallbacks:
      - {fallback}
steps:
  - id: s
    agent: {{instructions: hi}}
"""


def test_the_recipe_takes_an_inline_fallback_and_names_a_wrong_key(tmp_path):
    # Observed: an inline fallback was refused with the hint "quote the value".
    inline = '{model: openai/b, api_base: "http://127.0.0.1:8/v1", api_key_env: B_KEY}'
    ok = write(tmp_path / "ok.yaml", RECIPE.format(fallback=inline))
    result = invoke("validate", str(ok))
    assert result.exit_code == 0, result.stderr
    typo = write(tmp_path / "typo.yaml", RECIPE.format(fallback=inline.replace("api_base", "url")))
    result = invoke("validate", str(typo))
    assert result.exit_code == 1
    assert "fallbacks[0].url" in result.stderr and "allowed keys: model, api_base" in result.stderr
    assert "quote the value" not in result.stderr


def test_a_mapping_where_one_value_belongs_is_not_told_to_quote_it(tmp_path):
    bad = write(
        tmp_path / "bad.yaml",
        RECIPE.format(fallback="x").replace("model: openai/primary", "model: {a: 1}"),
    )
    result = invoke("validate", str(bad))
    assert "quote the value" not in result.stderr and "not a mapping" in result.stderr


def test_schema_json_lists_both_forms_of_a_fallback():
    result = invoke("schema", "recipe")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert "FallbackModel" in json.dumps(schema) and "cooldown" in json.dumps(schema)


def test_a_bad_cooldown_is_a_recipe_error(tmp_path):
    text = RECIPE.format(fallback="openai/b").replace(
        "    fallbacks:", "    cooldown: soon\n    fallbacks:"
    )
    result = invoke("run", str(write(tmp_path / "r.yaml", text)))
    assert_bad_input(result, "cooldown", "duration")


def test_an_inline_fallback_is_checked_and_shown_with_its_own_endpoint_and_key(
    tmp_path, monkeypatch
):
    from agentctl.models.roles import check_models_configured

    inline = {"model": "openai/backup", "api_base": "http://127.0.0.1:8/v1", "api_key_env": "B"}
    roles = {"default": {"model": "openai/gpt-4.1-mini", "fallbacks": [inline]}}
    # The primary's provider key is missing, but the inline fallback needs none of it.
    check_models_configured(roles, [], {}, {"default"})
    monkeypatch.setenv("B", "sk-b")
    with ScriptedOpenAIServer() as backup:
        text = RECIPE.format(
            fallback=f'{{model: openai/fake-model, api_base: "{backup.base_url}", api_key_env: B}}'
        )
        result = invoke("doctor", str(write(tmp_path / "d.yaml", text)), "--json")
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    check = checks["role default: openai/fake-model"]
    assert check["status"] == "ok" and check["facts"]["endpoint"].startswith(backup.base_url)
