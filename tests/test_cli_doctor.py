"""`agentctl doctor`: the database, the sandbox, key names (never values), a recipe's models."""

from __future__ import annotations

import json
import socket

import pytest
from conftest import invoke, write
from fakeserver import ScriptedOpenAIServer

from agentctl.engine import doctor as doctor_module
from agentctl.process.sandbox import Confinement


def _checks(result) -> dict[str, dict]:
    return {c["name"]: c for c in json.loads(result.stdout)["checks"]}


def test_doctor_on_a_fresh_machine_says_where_the_database_will_be(tmp_path):
    result = invoke("doctor", "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    checks = _checks(result)
    database = checks["database"]
    assert database["facts"] == {
        "backend": "sqlite",
        "location": str(tmp_path / "agentctl.db"),
        "exists": False,
    }
    assert not (tmp_path / "agentctl.db").exists()  # doctor never creates the database
    assert checks["versions"]["facts"]["agentctl"]
    assert checks["provider keys"]["status"] == "warn"
    assert checks["sandbox"]["status"] in ("ok", "warn")


def test_doctor_reports_a_database_in_use_and_its_size(tmp_path, workspace):
    recipe = write(tmp_path / "r.yaml", "version: 1\nname: r\nsteps:\n  - {id: a, run: 'true'}\n")
    assert invoke("run", str(recipe), "--workspace", str(workspace)).exit_code == 0
    result = invoke("doctor")
    assert result.exit_code == 0
    line = next(x for x in result.stdout.splitlines() if "database:" in x)
    assert f"sqlite at {tmp_path / 'agentctl.db'}" in line and "1 job" in line
    facts = _checks(invoke("doctor", "--json"))["database"]["facts"]
    assert facts["jobs"] == 1 and facts["size_bytes"] > 0


def test_doctor_names_keys_and_never_shows_their_values(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-doctor-canary-1234567890")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-doctor-canary-0987654321")
    result = invoke("doctor", "--json")
    assert "canary" not in result.stdout + result.stderr
    keys = _checks(result)["provider keys"]
    assert keys["status"] == "ok"
    assert keys["facts"]["set"] == ["ANTHROPIC_API_KEY", "OPENAI_API_KEY"]


def test_doctor_says_why_the_sandbox_does_not_work(monkeypatch):
    import agentctl.process.sandbox as sandbox

    missing = Confinement("none", "bubblewrap (bwrap) is not installed")
    monkeypatch.setattr(sandbox, "probe_confinement", lambda **kw: missing)
    result = invoke("doctor")
    assert result.exit_code == 0  # a warning, not a failure: `sandbox: preferred` still runs
    assert "warn  sandbox: shell tools cannot be confined here: bubblewrap" in result.stdout
    assert "apt-get install bubblewrap" in result.stdout


def _model_recipe(tmp_path, api_base: str):
    return write(
        tmp_path / "m.yaml",
        "version: 1\nname: m\nmodels:\n"
        f"  default: {{model: openai/fake-model, api_base: '{api_base}', api_key_env: FAKE_KEY}}\n"
        "instructions: hi\n",
    )


def test_doctor_recipe_checks_that_each_endpoint_answers(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_KEY", "k")
    with ScriptedOpenAIServer([]) as server:
        result = invoke("doctor", str(_model_recipe(tmp_path, server.base_url)), "--json")
    assert result.exit_code == 0, result.stdout
    check = _checks(result)["role default: openai/fake-model"]
    assert check["status"] == "ok" and check["facts"]["answer"] == "http 200"
    assert "answers (http 200)" in check["detail"]


def test_doctor_recipe_fails_for_an_endpoint_that_is_down(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_KEY", "k")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = invoke("doctor", str(_model_recipe(tmp_path, f"http://127.0.0.1:{port}/v1")))
    assert result.exit_code == 1
    assert f"FAIL  role default: openai/fake-model: 127.0.0.1:{port} does not answer" in (
        result.stdout
    )
    assert "hint: check api_base" in result.stdout


def test_doctor_recipe_fails_for_a_missing_key_without_touching_the_network(tmp_path):
    recipe = write(
        tmp_path / "k.yaml",
        "version: 1\nname: k\nmodels:\n  default: {model: anthropic/claude-sonnet-4-5}\n"
        "instructions: hi\n",
    )
    result = invoke("doctor", str(recipe))  # the conftest refuses any outside connection
    assert result.exit_code == 1
    assert "needs ANTHROPIC_API_KEY, which is not set" in result.stdout
    assert "hint: export ANTHROPIC_API_KEY=..." in result.stdout


def test_doctor_recipe_checks_a_provider_host_by_connecting(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        host = f"127.0.0.1:{listener.getsockname()[1]}"
        monkeypatch.setitem(doctor_module.PROVIDER_HOSTS, "openai", host)
        recipe = write(
            tmp_path / "o.yaml",
            "version: 1\nname: o\nmodels:\n  default: {model: openai/gpt-4.1-mini}\n"
            "instructions: hi\n",
        )
        result = invoke("doctor", str(recipe))
    assert result.exit_code == 0, result.stdout
    assert f"{host} answers (connected)" in result.stdout


@pytest.mark.parametrize("text", ["version: 1\nname: x\nsteps: 3\n"])
def test_doctor_with_an_invalid_recipe_is_bad_input(tmp_path, text):
    result = invoke("doctor", str(write(tmp_path / "bad.yaml", text)))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
