"""agentctl.models.calls through tests/fakeserver.py, so litellm's real HTTP path runs (no provider)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fakeserver import ScriptedOpenAIServer

from agentctl.errors import UsageError
from agentctl.models.calls import ModelError, ModelReply, build_model_client
from agentctl.models.loader import load_litellm as _litellm
from agentctl.models.prices import MIN_REPLY_TOKENS, Prices, PromptSize, estimate_call_cost
from agentctl.models.roles import check_models_configured, resolve_roles

ROOT = Path(__file__).resolve().parents[1]

KEY = "sk-fake-secret-key-4242"
MSGS = [{"role": "system", "content": "you are terse"}, {"role": "user", "content": "list files"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "shell",
            "description": "run a command",
            "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}},
        },
    }
]
NO_WAIT = (0.0, 0.0)
# litellm's own pydantic models warn on first use; models.py silences them for users, but pytest
# resets warning filters per test.
# Slow: the first test to call litellm pays its import (seconds); the rest go through the
# scripted HTTP server.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Item .* on TypedDict class:UserWarning"),
]


@dataclass
class Role:
    model: str = ""
    fallbacks: list[str] = field(default_factory=list)
    temperature: float | None = None
    max_tokens: int | None = None
    api_base: str | None = None
    api_key_env: str | None = "FAKE_LLM_KEY"
    options: dict = field(default_factory=dict)
    input_cost_per_token: float | None = None
    output_cost_per_token: float | None = None
    max_cost_usd: float | None = None


@pytest.fixture(autouse=True)
def fake_env(monkeypatch):
    monkeypatch.setenv("FAKE_LLM_KEY", KEY)
    monkeypatch.delenv("AGENTCTL_MODEL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


@pytest.fixture
def server():
    with ScriptedOpenAIServer() as s:
        yield s


def client_for(*servers_roles, record=None, **kw):
    roles = dict(servers_roles)
    return build_model_client(roles, record=record, retry_delays=NO_WAIT, **kw)


def test_import_does_not_load_litellm_until_prefetch():
    code = (
        "import sys, agentctl.models.calls, agentctl.models.loader as m\n"
        "print('litellm' in sys.modules)\n"
        "m.start_prefetch(); t = m._prefetch_thread; m.start_prefetch(); assert m._prefetch_thread is t\n"
        "m.load_litellm(); print('litellm' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.split() == ["False", "True"], out.stderr
    assert out.stderr == ""  # no litellm chatter (cost-map fetch warnings, banners)


def test_plain_reply_with_usage_and_cost(server):
    server.add({"content": "hello there", "usage": {"prompt_tokens": 100, "completion_tokens": 20}})
    role = Role(
        "openai/fake-model",
        api_base=server.base_url,
        temperature=0.2,
        max_tokens=50,
        input_cost_per_token=1e-6,
        output_cost_per_token=2e-6,
    )
    reply = client_for(("default", role)).complete("default", MSGS, [], call_index=0)
    assert reply.message == {"role": "assistant", "content": "hello there"}
    assert (reply.model, reply.role, reply.input_tokens, reply.output_tokens) == (
        "openai/fake-model",
        "default",
        100,
        20,
    )
    assert reply.cost_usd == pytest.approx(100e-6 + 40e-6)
    assert reply.latency_ms > 0 and reply.attempts == []
    req = server.chat_requests[0]
    assert req["headers"]["authorization"] == f"Bearer {KEY}"
    assert req["body"]["messages"] == MSGS and req["body"]["temperature"] == 0.2
    assert "tools" not in req["body"]
    # The key travels only in the Authorization header.
    assert KEY not in json.dumps(req["body"]) and KEY not in json.dumps(reply.to_dict())
    assert ModelReply.from_dict(json.loads(json.dumps(reply.to_dict()))) == reply


def test_unknown_model_costs_zero(server):
    server.add({"content": "x"})
    reply = client_for(("default", Role("openai/fake-model", api_base=server.base_url))).complete(
        "default", MSGS, [], call_index=0
    )
    assert reply.cost_usd == 0.0 and reply.input_tokens > 0


def test_cost_comes_from_usage_with_prices_looked_up_once_per_model(server, monkeypatch):
    lt = _litellm()
    lookups, costings = [], []
    real_info = lt.get_model_info
    monkeypatch.setattr(lt, "get_model_info", lambda m, **kw: lookups.append(m) or real_info(m))
    monkeypatch.setattr(lt, "completion_cost", lambda *a, **kw: costings.append(1) or 0.0)
    usage = {"prompt_tokens": 1000, "completion_tokens": 200}
    server.add(*[{"content": "x", "usage": usage}] * 3)
    # A model litellm has prices for, served by the scripted server.
    client = client_for(("default", Role("openai/gpt-4o-mini", api_base=server.base_url)))
    replies = [client.complete("default", MSGS, [], call_index=i) for i in range(3)]
    expected = sum(
        lt.cost_per_token(model="openai/gpt-4o-mini", prompt_tokens=1000, completion_tokens=200)
    )
    assert expected > 0
    assert [r.cost_usd for r in replies] == [pytest.approx(expected)] * 3
    assert lookups.count("openai/gpt-4o-mini") <= 1 and costings == []


def test_prices_apply_long_prompt_tiers_and_cached_tokens():
    prices = Prices(input=1.0, output=2.0, cache_read=0.1, tiers=((200_000, 3.0, 4.0),))
    assert prices.cost(1000, 10) == 1000 * 1.0 + 10 * 2.0
    assert prices.cost(1000, 10, cached_tokens=400) == 600 * 1.0 + 400 * 0.1 + 10 * 2.0
    assert prices.cost(300_000, 10) == 300_000 * 3.0 + 10 * 4.0
    assert Prices(input=1.0).cost(100, 0, cached_tokens=50) == 100.0  # no cache price known


def test_prompt_size_counts_appended_messages_once_and_matches_json():
    size = PromptSize()
    messages = [dict(m) for m in MSGS]
    assert size.chars(messages) == len(json.dumps(messages))
    for n in range(5):
        messages.append({"role": "tool", "tool_call_id": f"c{n}", "content": "é" * n})
        assert size.chars(messages) == len(json.dumps(messages))
    other = [{"role": "user", "content": "a different conversation"}]
    assert size.chars(other) == len(json.dumps(other))
    assert size.chars([]) == len(json.dumps([]))


def test_local_server_role_without_key_env_never_gets_the_ambient_key(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-openai-key")
    server.add({"content": "local"})
    role = Role("openai/llama3", api_base=server.base_url, api_key_env=None)
    reply = client_for(("default", role)).complete("default", MSGS, [], call_index=0)
    assert reply.message["content"] == "local"
    assert "sk-real-openai-key" not in json.dumps(server.requests)


def test_missing_credentials_is_an_auth_failure():
    from agentctl.models.router import classify_failure as _classify

    exc = RuntimeError("OpenAIException - Missing credentials. Please pass an `api_key`")
    exc.status_code = 500
    assert _classify(exc) == ("fatal", "auth failed (no API key)")


def test_tool_call_round_trips_arguments(server):
    args = {"cmd": "ls -la 'a b'", "n": [1, 2], "nested": {"ü": True}}
    server.add(
        {
            "tool_calls": [
                {"name": "shell", "arguments": args},
                {"name": "shell", "arguments": {"cmd": "pwd"}},
            ]
        }
    )
    reply = client_for(("default", Role("openai/fake-model", api_base=server.base_url))).complete(
        "default", MSGS, TOOLS, call_index=0
    )
    assert reply.message["content"] is None
    calls = reply.message["tool_calls"]
    assert [c["id"] for c in calls] == ["call_1", "call_2"]
    assert calls[0]["type"] == "function" and calls[0]["function"]["name"] == "shell"
    assert json.loads(calls[0]["function"]["arguments"]) == args
    assert server.chat_requests[0]["body"]["tools"] == TOOLS


def test_streaming_feeds_on_text_and_matches_non_streaming():
    item = {
        "content": "streamed hello, world",
        "tool_calls": [{"name": "shell", "arguments": {"cmd": "echo hi"}}],
        "usage": {"prompt_tokens": 30, "completion_tokens": 12},
    }
    replies, pieces = [], []
    for on_text in (None, pieces.append):
        with ScriptedOpenAIServer([item]) as s:
            client = client_for(("default", Role("openai/fake-model", api_base=s.base_url)))
            replies.append(client.complete("default", MSGS, TOOLS, call_index=0, on_text=on_text))
            assert s.chat_requests[0]["body"].get("stream") is (True if on_text else None)
    plain, streamed = replies
    assert len(pieces) > 1 and "".join(pieces) == "streamed hello, world"
    assert streamed.message == plain.message
    assert (streamed.input_tokens, streamed.output_tokens) == (30, 12)


def test_a_streamed_reply_is_assembled_from_its_deltas(monkeypatch):
    # litellm's stream_chunk_builder re-parses every chunk; the reply is built from the deltas.
    monkeypatch.setattr(_litellm(), "stream_chunk_builder", lambda *a, **k: 1 / 0)
    items = [
        {
            "content": "two calls coming",
            "tool_calls": [
                {"name": "shell", "arguments": {"cmd": "echo " + "x" * 40}},
                {"name": "read_file", "arguments": {"path": "a.txt"}},
            ],
            "usage": {"prompt_tokens": 50, "completion_tokens": 20},
        },
        {"content": "just text, in several pieces of five characters"},
    ]
    for item in items:
        replies, pieces = [], []
        for on_text in (None, pieces.append):
            with ScriptedOpenAIServer([item]) as s:
                client = client_for(("default", Role("openai/fake-model", api_base=s.base_url)))
                replies.append(
                    client.complete("default", MSGS, TOOLS, call_index=3, on_text=on_text)
                )
        plain, streamed = replies
        assert streamed.message == plain.message
        assert (streamed.input_tokens, streamed.output_tokens) == (
            plain.input_tokens,
            plain.output_tokens,
        )
        assert "".join(pieces) == item["content"]


def test_a_streamed_reply_starts_no_event_loop_for_litellm_logging(monkeypatch):
    # litellm ran its async success logging for every stream in a worker thread, inside a new
    # asyncio event loop (~30 ms a call on the bench): nothing of agentctl's listens to it.
    import asyncio
    import concurrent.futures

    from litellm.litellm_core_utils.thread_pool_executor import executor

    def at_once(fn, *args, **kwargs):  # litellm's logging thread pool, run in line
        done: concurrent.futures.Future = concurrent.futures.Future()
        done.set_result(fn(*args, **kwargs))
        return done

    monkeypatch.setattr(executor, "submit", at_once)
    loops = []
    real_run = asyncio.run
    monkeypatch.setattr(asyncio, "run", lambda *a, **k: loops.append(a) or real_run(*a, **k))
    item = {
        "content": "a few streamed words",
        "usage": {"prompt_tokens": 9, "completion_tokens": 4},
    }
    with ScriptedOpenAIServer([item] * 3) as s:
        client = client_for(("default", Role("openai/fake-model", api_base=s.base_url)))
        pieces: list[str] = []
        for n in range(3):
            reply = client.complete("default", MSGS, TOOLS, call_index=n, on_text=pieces.append)
            assert reply.message["content"] == "a few streamed words"
    assert "".join(pieces) == "a few streamed words" * 3
    assert loops == []


@pytest.mark.slow
def test_a_model_that_answers_quickly_is_not_asked_to_stream_until_it_slows(tmp_path):
    # Streaming through litellm costs several ms of CPU a call; it is worth it only when the
    # text takes a while to arrive. A quick reply is shown at once; a slow one streams next.
    quick = {"content": "quick words"}
    slow = {"delay": 2.5, "content": "slow words"}
    with ScriptedOpenAIServer([quick]) as warm:  # litellm's first call imports more
        client_for(("default", Role("openai/fake-model", api_base=warm.base_url))).complete(
            "default", MSGS, TOOLS, call_index=0
        )
    with ScriptedOpenAIServer([quick, quick, slow, quick]) as s:
        client = client_for(("default", Role("openai/fake-model", api_base=s.base_url)))
        assert client.stream_when_slower_than == 1.0  # the default
        client.stream_when_slower_than = 2.0
        shown: list[list[str]] = []
        for n in range(4):
            pieces: list[str] = []
            reply = client.complete("default", MSGS, TOOLS, call_index=n, on_text=pieces.append)
            shown.append(pieces)
            assert "".join(pieces) == reply.message["content"]
        streamed = [r["body"].get("stream") is True for r in s.chat_requests]
    # first call: streams; after a quick reply: whole; the slow whole reply: the next streams
    assert streamed == [True, False, False, True]
    assert [len(p) for p in shown[1:3]] == [1, 1]  # a whole reply reaches the view in one piece
    assert "".join(shown[2]) == "slow words"


@pytest.mark.parametrize(("mode", "expected"), [("always", [True] * 3), ("never", [False] * 3)])
def test_agentctl_stream_always_or_never(mode, expected, monkeypatch):
    monkeypatch.setenv("AGENTCTL_STREAM", mode.upper())
    with ScriptedOpenAIServer([{"content": "words"}] * 3) as s:
        client = client_for(("default", Role("openai/fake-model", api_base=s.base_url)))
        for n in range(3):
            pieces: list[str] = []
            client.complete("default", MSGS, TOOLS, call_index=n, on_text=pieces.append)
            assert "".join(pieces) == "words"
        assert [r["body"].get("stream") is True for r in s.chat_requests] == expected


def test_an_unknown_agentctl_stream_value_is_a_usage_error(monkeypatch):
    monkeypatch.setenv("AGENTCTL_STREAM", "sometimes")
    roles = {"default": {"model": "openai/fake-model", "api_key_env": "FAKE_LLM_KEY"}}
    for check in (
        lambda: client_for(("default", Role("openai/fake-model"))),
        lambda: check_models_configured(roles, needed_roles={"default"}),  # before a job exists
    ):
        with pytest.raises(UsageError) as caught:
            check()
        assert "AGENTCTL_STREAM='sometimes'" in str(caught.value)
        assert "auto" in caught.value.hint and caught.value.exit_code == 2


def test_500s_fall_back_to_backup_role_and_record_why():
    with (
        ScriptedOpenAIServer([{"status": 500}] * 5) as primary,
        ScriptedOpenAIServer([{"content": "from backup"}]) as backup,
    ):
        client = client_for(
            (
                "default",
                Role("openai/primary-model", api_base=primary.base_url, fallbacks=["backup"]),
            ),
            ("backup", Role("openai/backup-model", api_base=backup.base_url)),
        )
        reply = client.complete("default", MSGS, [], call_index=0)
        assert reply.message["content"] == "from backup"
        assert reply.model == "openai/backup-model" and reply.role == "default"
        assert len(primary.chat_requests) == 3  # first try + two retries
        assert [a["reason"] for a in reply.attempts] == ["server error (500)"] * 3
        assert all(a["model"] == "openai/primary-model" and a["error"] for a in reply.attempts)


def test_connection_refused_falls_back_to_model_string():
    dead = ScriptedOpenAIServer().start()
    dead_url = dead.base_url
    dead.stop()
    with ScriptedOpenAIServer([{"content": "ok"}]) as live:
        # A bare model-string fallback reuses the role's settings (here: its api_base), so point
        # the role at the live server and make the primary a role on the dead one.
        client = client_for(
            ("default", Role("openai/dead-model", api_base=dead_url, fallbacks=["alive"])),
            (
                "alive",
                Role("openai/other", api_base=live.base_url, fallbacks=["openai/fake-model"]),
            ),
        )
        reply = client.complete("default", MSGS, [], call_index=0)
    assert reply.model == "openai/other"
    assert {a["reason"] for a in reply.attempts} == {"connection error"}


def test_429_is_retried_then_succeeds(server):
    server.add({"status": 429}, {"status": 429}, {"content": "finally"})
    reply = client_for(("default", Role("openai/fake-model", api_base=server.base_url))).complete(
        "default", MSGS, [], call_index=0
    )
    assert reply.message["content"] == "finally" and reply.model == "openai/fake-model"
    assert [a["reason"] for a in reply.attempts] == ["rate limited (429)"] * 2
    assert len(server.chat_requests) == 3


def test_timeout_is_retried(server):
    server.add({"delay": 1.0, "content": "too slow"}, {"content": "quick"})
    role = Role("openai/fake-model", api_base=server.base_url, options={"timeout": 0.3})
    reply = client_for(("default", role)).complete("default", MSGS, [], call_index=0)
    assert reply.message["content"] == "quick"
    assert reply.attempts[0]["reason"] == "timeout", reply.attempts


def test_401_fails_fast_even_with_fallback(server):
    server.add(
        {"status": 401, "body": {"error": {"message": f"Incorrect API key provided: {KEY}"}}}
    )
    with ScriptedOpenAIServer([{"content": "never"}]) as backup:
        client = client_for(
            ("default", Role("openai/fake-model", api_base=server.base_url, fallbacks=["backup"])),
            ("backup", Role("openai/fake-model", api_base=backup.base_url)),
        )
        with pytest.raises(ModelError) as ei:
            client.complete("default", MSGS, [], call_index=0)
        assert backup.chat_requests == []
    err = ei.value
    assert err.exit_code == 1 and len(server.chat_requests) == 1
    assert "openai/fake-model" in err.message and "401" in err.message
    assert "$FAKE_LLM_KEY" in err.hint
    assert KEY not in err.message and KEY not in json.dumps(err.attempts)


def test_400_fails_fast_and_404_moves_on(server):
    server.add({"status": 400})
    client = client_for(("default", Role("openai/fake-model", api_base=server.base_url)))
    with pytest.raises(ModelError, match="bad request") as ei:
        client.complete("default", MSGS, [], call_index=0)
    assert "model name" in ei.value.hint and len(server.chat_requests) == 1
    server.add({"status": 404}, {"content": "fallback ok"})
    client = client_for(
        ("default", Role("openai/gone", api_base=server.base_url, fallbacks=["openai/fake-model"]))
    )
    reply = client.complete("default", MSGS, [], call_index=1)
    assert (
        reply.model == "openai/fake-model"
        and reply.attempts[0]["reason"] == "model not found (404)"
    )


def test_all_fallbacks_exhausted_raises_model_error():
    with ScriptedOpenAIServer(exhausted={"status": 503}) as s:
        client = client_for(
            ("default", Role("openai/a", api_base=s.base_url, fallbacks=["openai/b"]))
        )
        with pytest.raises(ModelError) as ei:
            client.complete("default", MSGS, [], call_index=0)
    assert "openai/a" in ei.value.message and "openai/b" in ei.value.message
    assert "503" in ei.value.message and len(ei.value.attempts) == 6


def test_budget_skips_role_to_its_fallback(server):
    server.add(
        {"content": "one", "usage": {"prompt_tokens": 1000, "completion_tokens": 0}},
        {"content": "two"},
        {"content": "three"},
    )
    client = client_for(
        (
            "default",
            Role(
                "openai/pricey",
                api_base=server.base_url,
                fallbacks=["cheap"],
                input_cost_per_token=1e-3,
                max_cost_usd=0.5,
            ),
        ),
        ("cheap", Role("openai/cheap", api_base=server.base_url, max_cost_usd=100)),
    )
    first = client.complete("default", MSGS, [], call_index=0)
    assert first.model == "openai/pricey" and first.cost_usd == pytest.approx(1.0)
    assert client.spent["default"] == pytest.approx(1.0)
    second = client.complete("default", MSGS, [], call_index=1)
    assert second.model == "openai/cheap"
    assert second.attempts == [
        {
            "model": "openai/pricey",
            "reason": "over budget",
            "error": "role 'default' spent $1.00 of $0.50",
        }
    ]
    client.spent["cheap"] = 100.0
    with pytest.raises(ModelError, match="over its budget") as ei:
        client.complete("default", MSGS, [], call_index=2)
    assert "max_cost_usd" in ei.value.hint


def test_model_override_parsing():
    roles = {"default": Role("openai/a", input_cost_per_token=1.0), "planner": Role("openai/p")}
    r = resolve_roles(roles, ["openai/gpt-4.1-mini"], env={})
    assert r["default"].model == "openai/gpt-4.1-mini" and r["default"].input_cost_per_token is None
    assert r["default"].api_key_env == "FAKE_LLM_KEY"  # the rest of the role is kept
    r = resolve_roles(roles, ["planner=anthropic/claude-x", "critic=openai/c"], env={})
    assert (r["default"].model, r["planner"].model, r["critic"].model) == (
        "openai/a",
        "anthropic/claude-x",
        "openai/c",
    )
    # A left side that is not a role-like name means the whole thing is a model string.
    r = resolve_roles({}, ["bedrock/arn:aws:x/y=z"], env={})
    assert r["default"].model == "bedrock/arn:aws:x/y=z"
    r = resolve_roles({}, [], env={"AGENTCTL_MODEL": "ollama/llama3"})
    assert r["default"].model == "ollama/llama3"
    r = resolve_roles({"default": Role("openai/a")}, [], env={"AGENTCTL_MODEL": "ollama/llama3"})
    assert r["default"].model == "openai/a"
    with pytest.raises(UsageError):
        resolve_roles({}, ["planner= "], env={})


def test_no_model_configured_is_a_usage_error(monkeypatch):
    with pytest.raises(UsageError) as ei:
        check_models_configured({}, [], env={}, needed_roles={"default", "planner"}, replay=None)
    err = ei.value
    assert err.exit_code == 2 and "no model is configured" in err.message
    for needle in (
        "--model openai/gpt-4.1-mini",
        "AGENTCTL_MODEL",
        "Ollama",
        "api_base",
        "--replay FILE",
    ):
        assert needle in err.hint
    client = build_model_client({"default": Role()}, [], env={})  # building never fails
    with pytest.raises(UsageError, match="no model is configured"):
        client.complete("default", MSGS, [], call_index=0)
    # Any of the three ways satisfies the check (with the provider's key: see
    # tests/test_model_failures.py for a missing one).
    key = {"OPENAI_API_KEY": "sk-test"}
    check_models_configured(
        {}, [], env={"AGENTCTL_MODEL": "openai/x", **key}, needed_roles={"planner"}, replay=None
    )
    check_models_configured({}, ["openai/x"], env=key, needed_roles={"default"}, replay=None)
    with pytest.raises(UsageError, match="\\$FAKE_LLM_KEY, which is not set"):
        check_models_configured(
            {"default": Role("openai/x")}, [], env={}, needed_roles={"default"}, replay=None
        )


def test_record_then_replay_without_server(tmp_path):
    cas = tmp_path / "run.cassette.jsonl"
    script = [
        {"content": "thinking", "tool_calls": [{"name": "shell", "arguments": {"cmd": "ls"}}]},
        {"content": "all done"},
    ]
    msgs2 = MSGS + [
        {"role": "assistant", "content": "thinking"},
        {"role": "tool", "tool_call_id": "call_1", "content": "a\nb"},
    ]
    with ScriptedOpenAIServer(script) as s:
        live = client_for(("default", Role("openai/fake-model", api_base=s.base_url)), record=cas)
        recorded = [
            live.complete("default", MSGS, TOOLS, call_index=0),
            live.complete("default", msgs2, TOOLS, call_index=1, on_text=lambda t: None),
        ]
    lines = cas.read_text().splitlines()
    assert json.loads(lines[0])["agentctl_cassette"] == 1 and len(lines) == 3
    assert KEY not in cas.read_text() and "authorization" not in cas.read_text().lower()
    entry = json.loads(lines[1])
    assert set(entry) == {"call_index", "role", "model", "request", "response"}
    assert entry["request"] == {"messages": MSGS, "tools": TOOLS}

    replay = build_model_client({}, replay=cas)  # no roles, no server, no key needed
    seen = []
    assert replay.complete("default", MSGS, TOOLS, call_index=0).to_dict() == recorded[0].to_dict()
    assert (
        replay.complete("default", msgs2, TOOLS, call_index=1, on_text=seen.append).to_dict()
        == recorded[1].to_dict()
    )
    assert seen == ["all done"]
    # A resumed job asks for its next call first; replay serves it directly.
    assert (
        build_model_client({}, replay=cas)
        .complete("default", msgs2, TOOLS, call_index=1)
        .message["content"]
        == "all done"
    )
    check_models_configured({}, [], env={}, needed_roles={"default"}, replay=cas)

    # Replay in a fresh process never imports litellm.
    code = (
        "import sys, json; from pathlib import Path; from agentctl.models.calls import build_model_client\n"
        f"c = build_model_client({{}}, replay=Path({str(cas)!r}))\n"
        f"r = c.complete('default', json.loads({json.dumps(json.dumps(MSGS))}), "
        f"json.loads({json.dumps(json.dumps(TOOLS))}), call_index=0)\n"
        "print(r.message['tool_calls'][0]['function']['name'], 'litellm' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "shell False", out.stderr


def test_diverging_replay_names_the_call(tmp_path):
    cas = tmp_path / "c.jsonl"
    with ScriptedOpenAIServer([{"content": "a"}, {"content": "b"}]) as s:
        live = client_for(("default", Role("openai/fake-model", api_base=s.base_url)), record=cas)
        for i in range(2):
            live.complete("default", MSGS, TOOLS, call_index=i)
    replay = build_model_client({}, replay=cas)
    changed = [MSGS[0], {"role": "user", "content": "list all files"}]
    with pytest.raises(ModelError) as ei:
        replay.complete("default", changed, TOOLS, call_index=1)
    msg = ei.value.message
    assert msg.startswith("replay diverged at model call 1: message 1 (user) content differs")
    assert "list files" in msg and "list all files" in msg
    with pytest.raises(ModelError, match="call 0: tools differ"):
        replay.complete("default", MSGS, [], call_index=0)
    with pytest.raises(ModelError, match="call 0: recorded 2 messages, now 3"):
        replay.complete(
            "default", MSGS + [{"role": "user", "content": "more"}], TOOLS, call_index=0
        )
    with pytest.raises(
        ModelError, match="replay diverged at model call 2: the recording has no call 2"
    ):
        replay.complete("default", MSGS, TOOLS, call_index=2)
    with pytest.raises(UsageError, match="replay file not found"):
        build_model_client({}, replay=tmp_path / "missing.jsonl")


def test_estimate_call_cost_is_the_least_a_call_can_cost():
    # The prompt (characters / 4 tokens) and a minimal reply: what the job's budget must
    # still hold for a call to be made at all (its max_tokens is then capped to fit).
    msgs = [{"role": "user", "content": "x" * 4000}]
    prompt = len(json.dumps(msgs)) // 4
    roles = {"default": Role("openai/x", input_cost_per_token=1e-6, max_tokens=10)}
    assert build_model_client(roles).estimate_call_cost("planner", msgs) == pytest.approx(
        prompt * 1e-6
    )
    est = estimate_call_cost(
        Role("openai/x", input_cost_per_token=1e-6, output_cost_per_token=2e-6, max_tokens=500),
        msgs,
    )
    assert est == pytest.approx(prompt * 1e-6 + MIN_REPLY_TOKENS * 2e-6)
    small = Role("openai/x", input_cost_per_token=1e-6, output_cost_per_token=2e-6, max_tokens=5)
    assert estimate_call_cost(small, msgs) == pytest.approx(prompt * 1e-6 + 5 * 2e-6)
    assert estimate_call_cost(Role("openai/x", input_cost_per_token=1e-6), msgs) > 0.001
    assert estimate_call_cost(Role("openai/surely-not-a-real-model"), msgs) == 0.0


def test_fakeserver_runs_as_a_script(tmp_path):
    script = tmp_path / "s.json"
    script.write_text(json.dumps({"script": [{"content": "hi"}], "exhausted": {"status": 500}}))
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "tests" / "fakeserver.py"),
            "--script",
            str(script),
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base = proc.stdout.readline().strip()
        assert base.startswith("http://127.0.0.1:") and base.endswith("/v1")
        models = json.load(urllib.request.urlopen(base + "/models", timeout=5))
        assert models["data"][0]["id"] == "fake-model"
        req = urllib.request.Request(
            base + "/chat/completions",
            data=json.dumps({"model": "m", "messages": MSGS}).encode(),
            headers={"Content-Type": "application/json"},
        )
        body = json.load(urllib.request.urlopen(req, timeout=5))
        assert body["choices"][0]["message"]["content"] == "hi"
        with pytest.raises(urllib.error.HTTPError) as ei:
            urllib.request.urlopen(req, timeout=5)
        assert ei.value.code == 500
    finally:
        proc.terminate()
        proc.wait(timeout=5)
