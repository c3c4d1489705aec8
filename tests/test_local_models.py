"""`local/PATH.gguf` models without a real model: paths, the checks before a job exists, the
shared server's lifetime, and a run end to end through litellm with the server replaced by the
scripted OpenAI-compatible one (tests/fakeserver.py). The real model: test_local_real.py."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import ClassVar

import pytest
from conftest import assert_bad_input, invoke, write
from fakeserver import ScriptedOpenAIServer

from agentctl.engine.run import RunnerDeps, run_job
from agentctl.models import local
from agentctl.models.gguf import GGUFError, read_metadata
from agentctl.models.local import LocalModels, LocalSettings, local_overrides
from agentctl.recipe.load import load_recipe_text

NO_TOOLS_TEMPLATE = "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{% endfor %}"


def gguf_bytes(pairs: dict[str, str | int]) -> bytes:
    """A GGUF header with string and uint32 metadata and no tensors."""

    def text(s: str) -> bytes:
        data = s.encode()
        return struct.pack("<Q", len(data)) + data

    out = b"GGUF" + struct.pack("<IQQ", 3, 0, len(pairs))
    for key, value in pairs.items():
        if isinstance(value, int):
            out += text(key) + struct.pack("<II", 4, value)
        else:
            out += text(key) + struct.pack("<I", 8) + text(value)
    return out


def fake_gguf(path: Path, template: str = NO_TOOLS_TEMPLATE) -> Path:
    path.write_bytes(gguf_bytes({"general.name": "Tiny Test", "tokenizer.chat_template": template}))
    return path


class FakeServer:
    """Stands in for local._Server: answers through a scripted OpenAI-compatible server."""

    started: ClassVar[list[FakeServer]] = []
    target: ScriptedOpenAIServer | None = None

    def __init__(self, path: Path, settings: LocalSettings):
        assert FakeServer.target is not None
        self.path, self.settings, self.stopped = path, settings, False
        self.api_base = FakeServer.target.base_url
        self.alias, self.key = path.stem, "k-for-this-process"
        self.traits = local.template_traits(path)
        FakeServer.started.append(self)

    def stop(self) -> None:
        self.stopped = True


@pytest.fixture
def fake_servers(monkeypatch):
    FakeServer.started = []
    monkeypatch.setattr(local, "_Server", FakeServer)
    monkeypatch.setattr(local, "runtime_installed", lambda: True)
    yield FakeServer
    FakeServer.target = None


def test_gguf_header_is_read_and_other_files_refused(tmp_path):
    model = fake_gguf(tmp_path / "m.gguf")
    assert read_metadata(model)["general.name"] == "Tiny Test"
    assert read_metadata(model, {"general.name"}) == {"general.name": "Tiny Test"}
    with pytest.raises(GGUFError, match="not a GGUF"):
        read_metadata(write(tmp_path / "x.gguf", "hello"))
    (tmp_path / "cut.gguf").write_bytes(model.read_bytes()[:30])
    with pytest.raises(GGUFError, match="cut short"):
        read_metadata(tmp_path / "cut.gguf")


def test_local_paths_are_kept_absolute(tmp_path):
    recipes = tmp_path / "recipes"
    models = {"small": {"path": "models/a.gguf"}, "cloud": {"model": "openai/gpt-4.1-mini"}}
    got = local_overrides(models, ["local/b.gguf", "cloud=openai/x"], recipes, tmp_path / "here")
    assert got == [
        f"small=local/{recipes}/models/a.gguf",  # a recipe's path: from the recipe's folder
        f"local/{tmp_path}/here/b.gguf",  # --model local/PATH from the current folder
        "cloud=openai/x",
    ]


def test_a_role_names_its_model_by_model_or_path(tmp_path):
    ok = load_recipe_text(
        "version: 1\nname: r\nmodels:\n  small: {path: m.gguf, local: {threads: 1}}\n"
        "steps:\n  - id: a\n    agent: {instructions: hi, model: small}\n",
        "r.yaml",
    )
    assert ok.recipe.models["small"].path == "m.gguf"
    for role in ("{path: m.gguf, model: openai/x}", "{temperature: 0}"):
        result = invoke(
            "validate",
            str(
                write(
                    tmp_path / "r.yaml",
                    f"version: 1\nname: r\nmodels:\n  d: {role}\nsteps:\n  - id: a\n    run: 'true'\n",
                )
            ),
        )
        assert result.exit_code == 1, result.stdout
        assert "model: or path:" in result.stdout + result.stderr


def agent_recipe(tmp_path: Path, models: str = "") -> Path:
    return write(
        tmp_path / "r.yaml",
        f"version: 1\nname: r\n{models}steps:\n"
        "  - id: a\n    agent: {instructions: read NOTES.md, tools: [read_file]}\n",
    )


def test_run_without_the_runtime_exits_2_with_the_install_line(tmp_path, workspace, monkeypatch):
    monkeypatch.setattr(local, "runtime_installed", lambda: False)
    model = fake_gguf(tmp_path / "m.gguf")
    result = invoke(
        "run",
        str(agent_recipe(tmp_path)),
        "--workspace",
        str(workspace),
        "--model",
        f"local/{model}",
    )
    assert_bad_input(result, "xllamacpp is not installed", "pip install 'agentctl-jobs[local]'")
    assert json.loads(invoke("jobs", "--json").stdout) == []  # before any job or step


def test_run_with_a_missing_or_foreign_file_exits_2(tmp_path, workspace, monkeypatch):
    monkeypatch.setattr(local, "runtime_installed", lambda: True)
    recipe = str(agent_recipe(tmp_path))
    missing = invoke("run", recipe, "--workspace", str(workspace), "--model", "local/nope.gguf")
    assert_bad_input(missing, "no model file at", "nope.gguf")
    other = write(tmp_path / "weights.gguf", "<html>not a model</html>")
    foreign = invoke("run", recipe, "--workspace", str(workspace), "--model", f"local/{other}")
    assert_bad_input(foreign, "is not a GGUF model file")


def test_one_server_per_file_and_settings_shared_until_its_last_user_closes(tmp_path, fake_servers):
    fake_servers.target = ScriptedOpenAIServer()
    model = f"local/{fake_gguf(tmp_path / 'm.gguf')}"
    first, second = LocalModels(), LocalModels()
    a = first.endpoint(model, {"threads": 1})
    assert first.endpoint(model, {"threads": 1}) is a
    assert second.endpoint(model, {"threads": 1}).api_base == a.api_base
    assert len(fake_servers.started) == 1
    assert a.model == "openai/m" and not a.template_has_tools and not a.template_has_tool_role
    second.endpoint(model, {"threads": 1, "context": 2048})  # other settings: a server of its own
    assert len(fake_servers.started) == 2
    first.close()
    assert not fake_servers.started[0].stopped  # the second client still uses it
    second.close()
    assert all(s.stopped for s in fake_servers.started)
    assert local.running_servers() == 0


@pytest.mark.slow  # litellm's import
def test_a_run_on_a_local_model_recovers_text_calls_costs_nothing_and_stops_the_server(
    tmp_path, workspace, fake_servers
):
    write(workspace / "NOTES.md", "Maria owns the release.")
    reply = '<tool_call>\n{"name": "read_file", "arguments": {"path": "NOTES.md"}}\n</tool_call>'
    with ScriptedOpenAIServer(
        [
            {"content": reply, "usage": {"prompt_tokens": 120, "completion_tokens": 20}},
            {"content": "Maria owns it.", "usage": {"prompt_tokens": 160, "completion_tokens": 5}},
        ]
    ) as server:
        fake_servers.target = server
        model = fake_gguf(tmp_path / "tiny.gguf")
        result = invoke(
            "run", str(agent_recipe(tmp_path)), "--workspace", str(workspace),
            "--model", f"local/{model}", "--json",
        )  # fmt: skip
        assert result.exit_code == 0, result.stderr
        job = json.loads(result.stdout)
        requests = [r["body"] for r in server.chat_requests]
        headers = server.chat_requests[0]["headers"]
    assert job["state"] == "succeeded"
    assert job["usage"] == {
        "input_tokens": 280, "output_tokens": 25, "cost_usd": 0.0, "model_calls": 2,
        "tool_calls": 1,
    }  # fmt: skip
    assert job["steps"][0]["output"] == "Maria owns it."
    assert requests[0]["model"] == "tiny"
    assert headers.get("authorization") == "Bearer k-for-this-process"
    # The template shows neither tools nor tool messages: the tools are told in the system
    # message, the call and its result are sent as text.
    assert "You can call these tools:" in requests[0]["messages"][0]["content"]
    assert [m["role"] for m in requests[1]["messages"]][-2:] == ["assistant", "user"]
    assert requests[1]["messages"][-1]["content"] == "Result of read_file:\nMaria owns the release."
    assert [s.stopped for s in fake_servers.started] == [True]
    log = [json.loads(line) for line in invoke("log", job["id"], "--json").stdout.splitlines()]
    first = next(e for e in log if e["type"] == "model_response")["reply"]
    assert first["message"]["content"] is None  # the block became the call
    assert first["message"]["tool_calls"][0]["function"] == {
        "name": "read_file",
        "arguments": '{"path": "NOTES.md"}',
    }
    assert first["model"] == f"local/{model}" and first["cost_usd"] == 0.0


class _Interrupting:
    """A model client whose call is cut short by Ctrl-C; it records being closed."""

    closed = False
    spent: ClassVar[dict[str, float]] = {}

    @staticmethod
    def mask(value):
        return value

    def estimate_call_cost(self, role, messages):
        return 0.0

    def complete(self, role, messages, tools, *, call_index, on_text=None, bounds=None):
        raise KeyboardInterrupt

    def close(self):
        self.closed = True


def test_the_runner_closes_the_model_client_when_a_run_is_interrupted(store, workspace):
    from conftest import make_job

    client = _Interrupting()
    job = make_job(
        store,
        workspace,
        "version: 1\nname: r\nmodels: {default: {model: x/y}}\nsteps:\n  - id: a\n    agent: {instructions: hi}\n",
    )
    outcome = run_job(job, RunnerDeps(store=store, model_factory=lambda r, o: client))
    assert outcome.state == "interrupted"
    assert client.closed


def test_models_reports_a_local_files_size_sha256_and_name(tmp_path, monkeypatch):
    import hashlib

    (tmp_path / "models").mkdir()
    model = fake_gguf(tmp_path / "models" / "tiny.gguf")
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    described = json.loads(invoke("models", str(model), "--json").stdout)
    assert described["name"] == "Tiny Test"
    assert described["size_bytes"] == model.stat().st_size and described["sha256"] == digest
    assert described["error"] is None and described["chat_template_tools"] is False
    recipe = write(
        tmp_path / "r.yaml",
        "version: 1\nname: r\nmodels:\n  small: {path: models/tiny.gguf}\n"
        "  big: {model: openai/gpt-4.1-mini, fallbacks: [small]}\n"
        "steps:\n  - id: a\n    run: 'true'\n",
    )
    monkeypatch.chdir(tmp_path.parent)  # the recipe's path: is from its own folder
    report = json.loads(invoke("models", str(recipe), "--json").stdout)["roles"]
    by_role = {r["role"]: r["models"] for r in report}
    assert by_role["big"][0] == {"model": "openai/gpt-4.1-mini"}
    assert by_role["big"][1]["local"]["sha256"] == digest  # a fallback naming a local role
    assert by_role["small"][0]["local"]["path"] == str(model)
    text = invoke("models", str(recipe)).stdout
    assert "name: Tiny Test" in text and f"sha256: {digest}" in text
    missing = json.loads(invoke("models", str(tmp_path / "gone.gguf"), "--json").stdout)
    assert missing["exists"] is False and missing["error"] == "no such file"


def test_doctor_checks_a_recipes_local_model(tmp_path, monkeypatch):
    (tmp_path / "m").mkdir()
    fake_gguf(tmp_path / "m" / "tiny.gguf")
    recipe = write(
        tmp_path / "r.yaml",
        "version: 1\nname: r\nmodels:\n  default: {path: m/tiny.gguf}\n"
        "steps:\n  - id: a\n    agent: {instructions: hi}\n",
    )
    monkeypatch.setattr(local, "runtime_installed", lambda: True)
    checks = json.loads(invoke("doctor", str(recipe), "--json").stdout)["checks"]
    found = next(c for c in checks if c["area"] == "model")
    assert found["status"] == "ok" and "Tiny Test" in found["detail"]
    assert found["facts"]["local"]["name"] == "Tiny Test"
    monkeypatch.setattr(local, "runtime_installed", lambda: False)
    checks = json.loads(invoke("doctor", str(recipe), "--json").stdout)["checks"]
    found = next(c for c in checks if c["area"] == "model")
    assert found["status"] == "fail" and "agentctl-jobs[local]" in found["hint"]


@pytest.mark.slow  # litellm's import
def test_any_role_may_ask_for_text_tool_calls_and_tool_results_as_user_messages(
    tmp_path, workspace
):
    write(workspace / "NOTES.md", "Maria owns the release.")
    reply = (
        'I will read it.\n```json\n{"name": "read_file", "arguments": {"path": "NOTES.md"}}\n```'
    )
    with ScriptedOpenAIServer([{"content": reply}, {"content": "Maria."}]) as server:
        recipe = agent_recipe(
            tmp_path,
            "models:\n  default: {model: openai/fake-model, api_base: "
            f"'{server.base_url}', tool_calls: text, tool_results: user}}\n",
        )
        result = invoke("run", str(recipe), "--workspace", str(workspace), "--json")
        assert result.exit_code == 0, result.stderr
        requests = [r["body"] for r in server.chat_requests]
    job = json.loads(result.stdout)
    assert job["usage"]["tool_calls"] == 1 and job["steps"][0]["output"] == "Maria."
    assert requests[0]["tools"][0]["function"]["name"] == "read_file"  # sent as usual
    assert "You can call these tools" not in json.dumps(requests[0]["messages"])
    last_two = requests[1]["messages"][-2:]
    assert last_two[0] == {
        "role": "assistant",
        "content": "I will read it.\n<tool_call>\n"
        '{"name": "read_file", "arguments": {"path": "NOTES.md"}}\n</tool_call>',
    }
    assert last_two[1] == {
        "role": "user",
        "content": "Result of read_file:\nMaria owns the release.",
    }
