"""MCP tools end to end: `agentctl` in a subprocess, the scripted OpenAI-compatible model server
on 127.0.0.1 (litellm's real request path), and real MCP servers over stdio and HTTP.

A job calls an MCP tool, is SIGKILLed (tests/crash_harness.py), and resumes without calling it
twice; a denied MCP tool is answered to the model; a changed tool schema parks the job until
a person approves; a server that cannot start exits 2 before any step.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from conftest import agentctl as run_agentctl
from fakeserver import ScriptedOpenAIServer
from test_mcp import GIT_SERVER, TESTSERVER, http_server  # noqa: F401 - a fixture

# Each test starts agentctl several times and MCP servers with it: ~10 s on an idle machine,
# over a minute on a loaded one, so these get more than the default two minutes.
pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.timeout(300)]

# Policies here switch the sandbox off so the tests also pass from a checkout under /tmp
# (the sandbox's /tmp is private, so a venv there is invisible); tests/test_mcp.py checks the
# confined server.
OPEN_POLICY = """
version: 1
name: open
default: allow
sandbox: off
network: true
"""


def recipe_text(base: str, steps: str, *, extra_servers: str = "", version_file: str = "") -> str:
    testserver = [*TESTSERVER, *(["--version-file", version_file] if version_file else [])]
    return f"""
version: 1
name: mcp-e2e
policy: policy.yaml
env: [MY_TOKEN]
models:
  default: {{model: openai/fake-model, api_base: "{base}", api_key_env: FAKE_KEY}}
mcp:
  t:
    command: {json.dumps(testserver)}
    env: [MY_TOKEN]
{extra_servers}
steps:
{steps}
"""


def agentctl(args, *, tmp: Path, crash: str | None = None, **env_extra: str):
    return run_agentctl(
        args, tmp / "agentctl.db", tmp, crash=crash, FAKE_KEY="sk-test-mcp", **env_extra
    )


def setup(tmp: Path, recipe: str, policy: str = OPEN_POLICY) -> Path:
    (tmp / "ws").mkdir(exist_ok=True)
    (tmp / "policy.yaml").write_text(policy)
    (tmp / "recipe.yaml").write_text(recipe)
    return tmp / "ws"


def run(tmp: Path, *extra: str, crash: str | None = None, **env):
    args = ["run", "recipe.yaml", "--workspace", "ws", "--non-interactive", *extra]
    return agentctl(args, tmp=tmp, crash=crash, **env)


def events(tmp: Path) -> list[dict]:
    done = agentctl(["log", "last", "--json"], tmp=tmp)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def status(tmp: Path) -> dict:
    done = agentctl(["status", "last", "--json"], tmp=tmp)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def call(tool: str, /, **arguments) -> dict:
    return {"tool_calls": [{"name": tool, "arguments": arguments}]}


ONE_AGENT = """
  - id: work
    agent:
      instructions: Use the tools.
      tools: [t.*]
"""


def wait_gone(pid: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not os.path.exists(f"/proc/{pid}"):
            return True
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except OSError:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("when,answer", [("after", None), ("before", "deny")])
def test_sigkill_then_resume_calls_the_mcp_tool_once(tmp_path, when, answer):
    script = [call("t__whoami"), call("t__append", text="once"), {"content": "all done"}]
    with ScriptedOpenAIServer(script, by_turn=True) as model:
        ws = setup(tmp_path, recipe_text(model.base_url, ONE_AGENT))
        # after: the result was committed; before: the tool ran but its result was never logged.
        crashed = run(tmp_path, crash=f"{when}:action_finished:2")
        assert crashed.returncode == -9, crashed.stderr
        assert (ws / "effects.log").read_text() == "once\n"
        whoami = next(
            e
            for e in events(tmp_path)
            if e["type"] == "action_finished" and e["tool"] == "t.whoami"
        )
        assert wait_gone(int(whoami["output"].split()[0])), "the server outlived its job"

        resumed = agentctl(["resume", "last", "--non-interactive", "--json"], tmp=tmp_path)
        if answer:
            # Uncertain and not read-only: a person decides; the approval names SERVER.TOOL.
            assert resumed.returncode == 3, resumed.stderr
            pending = json.loads(resumed.stdout)["pending_approvals"]
            assert pending[0]["tool"] == "t.append" and "uncertain" in pending[0]["reason"]
            assert agentctl([answer, "last"], tmp=tmp_path).returncode == 0
            resumed = agentctl(["resume", "last", "--non-interactive", "--json"], tmp=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        assert json.loads(resumed.stdout)["state"] == "succeeded"
    assert (ws / "effects.log").read_text() == "once\n"
    finished = [e for e in events(tmp_path) if e["type"] == "action_finished"]
    assert [e["tool"] for e in finished].count("t.append") == 1  # a denied re-run is logged once


def test_uncertain_read_only_mcp_call_reruns_by_itself(tmp_path):
    script = [call("t__append", text="again"), {"content": "done"}]
    with ScriptedOpenAIServer(script, by_turn=True) as model:
        recipe = recipe_text(model.base_url, ONE_AGENT).replace(
            "    env: [MY_TOKEN]\n", "    env: [MY_TOKEN]\n    read_only: [append]\n", 1
        )
        ws = setup(tmp_path, recipe)
        assert run(tmp_path, crash="before:action_finished:1").returncode == -9
        resumed = agentctl(["resume", "last", "--non-interactive"], tmp=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
    # Declared read-only by the recipe, so it ran again without asking (twice, by design).
    assert (ws / "effects.log").read_text() == "again\nagain\n"


def test_a_denied_mcp_tool_is_answered_to_the_model(tmp_path):
    policy = OPEN_POLICY + "rules:\n  - {id: no-append, tools: [t.append], decision: deny}\n"
    script = [call("t__append", text="no"), call("t__getenv", name="MY_TOKEN"), {"content": "ok"}]
    with ScriptedOpenAIServer(script, by_turn=True) as model:
        ws = setup(tmp_path, recipe_text(model.base_url, ONE_AGENT), policy)
        done = run(tmp_path, MY_TOKEN="tok-secret-value-1234")
        assert done.returncode == 0, done.stderr
        second = model.chat_requests[1]["body"]["messages"]
        answer = next(m for m in second if m["role"] == "tool")
        assert "t.append was not run: denied by the policy" in answer["content"]
        assert "open:no-append" in answer["content"]
        tools = {t["function"]["name"] for t in model.chat_requests[0]["body"]["tools"]}
        assert {"t__append", "t__lookup", "t__getenv"} <= tools
    assert not (ws / "effects.log").exists()
    log = events(tmp_path)
    refused = next(e for e in log if e["type"] == "action_finished" and e["tool"] == "t.append")
    assert refused["refused"] and refused["decision"] == "deny"
    # The server's environment value is a secret: masked in the log.
    dumped = json.dumps(log)
    assert "tok-secret-value-1234" not in dumped and "[REDACTED]" in dumped


PARKING_STEPS = """
  - id: first
    agent:
      instructions: Look it up.
      tools: [t.lookup]
  - id: gate
    approval: Go on?
  - id: second
    agent:
      instructions: Look it up again.
      tools: [t.lookup]
"""


def test_a_changed_tool_schema_parks_the_job_until_approved(tmp_path):
    version = tmp_path / "version.txt"
    version.write_text("1")
    script = [call("t__lookup", key="k"), {"content": "found"}]
    with ScriptedOpenAIServer(script, by_turn=True) as model:
        setup(tmp_path, recipe_text(model.base_url, PARKING_STEPS, version_file=str(version)))
        assert run(tmp_path).returncode == 3  # the approval step
        assert agentctl(["approve", "last"], tmp=tmp_path).returncode == 0
        version.write_text("2")  # the server now describes lookup differently
        parked = agentctl(["resume", "last", "--non-interactive", "--json"], tmp=tmp_path)
        assert parked.returncode == 3, parked.stderr
        job = json.loads(parked.stdout)
        pending = job["pending_approvals"]
        assert len(pending) == 1 and "changed t.lookup" in pending[0]["reason"]
        assert pending[0]["args"]["changed"] == ["t.lookup"]
        assert "send_to" in pending[0]["args"]["diff"]
        assert "ALSO send the result" in pending[0]["args"]["diff"]
        calls_before = [e for e in events(tmp_path) if e["type"] == "action_started"]
        assert all(e["step"] == "first" for e in calls_before)  # nothing called since
        assert agentctl(["approve", "last"], tmp=tmp_path).returncode == 0
        done = agentctl(["resume", "last", "--non-interactive", "--json"], tmp=tmp_path)
        assert done.returncode == 0, done.stderr
    log = events(tmp_path)
    pins = [e for e in log if e["type"] == "mcp_tools_pinned"]
    assert len(pins) == 2 and pins[1]["approval"] == pending[0]["request"]
    assert [e["step"] for e in log if e["type"] == "action_started"] == ["first", "second"]


def test_a_tool_the_job_uses_that_disappears_fails_the_job_naming_it(tmp_path):
    version = tmp_path / "version.txt"
    version.write_text("1")
    script = [call("t__lookup", key="k"), {"content": "found"}]
    with ScriptedOpenAIServer(script, by_turn=True) as model:
        setup(tmp_path, recipe_text(model.base_url, PARKING_STEPS, version_file=str(version)))
        assert run(tmp_path).returncode == 3
        assert agentctl(["approve", "last"], tmp=tmp_path).returncode == 0
        version.write_text("3")  # lookup is gone
        failed = agentctl(["resume", "last", "--non-interactive", "--json"], tmp=tmp_path)
    assert failed.returncode == 1, failed.stderr
    error = json.loads(failed.stdout)["error"]
    assert "does not offer t.lookup" in error["message"]


def test_a_server_that_cannot_start_exits_2_before_any_step(tmp_path):
    with ScriptedOpenAIServer([{"content": "never"}]) as model:
        recipe = recipe_text(model.base_url, "  - id: prep\n    run: touch prepared\n" + ONE_AGENT)
        recipe = recipe.replace(
            json.dumps(TESTSERVER), json.dumps([*TESTSERVER, "--stderr", "cannot open db.sqlite"])
        )
        ws = setup(tmp_path, recipe)
        done = run(tmp_path)
        assert not model.chat_requests
    assert done.returncode == 2
    assert "error: MCP server t failed to start" in done.stderr
    assert "cannot open db.sqlite" in done.stderr
    assert not (ws / "prepared").exists()
    assert not [e for e in events(tmp_path) if e["type"] == "step_started"]


def test_an_ask_on_an_mcp_tool_parks_and_resumes(tmp_path):
    policy = OPEN_POLICY + "rules:\n  - {id: ask-append, tools: [t.append], decision: ask}\n"
    script = [call("t__append", text="approved"), {"content": "done"}]
    with ScriptedOpenAIServer(script, by_turn=True) as model:
        ws = setup(tmp_path, recipe_text(model.base_url, ONE_AGENT), policy)
        parked = run(tmp_path, "--json")
        assert parked.returncode == 3, parked.stderr
        pending = json.loads(parked.stdout)["pending_approvals"]
        assert pending[0]["tool"] == "t.append" and pending[0]["args"] == {"text": "approved"}
        rules = [(r["policy"], r["id"], r["decision"]) for r in pending[0]["rules"]]
        assert ("open", "ask-append", "ask") in rules
        assert not (ws / "effects.log").exists()
        assert agentctl(["approve", "last"], tmp=tmp_path).returncode == 0
        done = agentctl(["resume", "last", "--non-interactive"], tmp=tmp_path)
        assert done.returncode == 0, done.stderr
    assert (ws / "effects.log").read_text() == "approved\n"


def test_record_and_replay_run_mcp_calls_for_real(tmp_path):
    script = [call("t__append", text="recorded"), {"content": "done"}]
    with ScriptedOpenAIServer(script, by_turn=True) as model:
        ws = setup(tmp_path, recipe_text(model.base_url, ONE_AGENT))
        assert run(tmp_path, "--record", "session.jsonl").returncode == 0
    (ws / "effects.log").unlink()
    # The model server is gone: every model answer comes from the recording.
    replayed = run(tmp_path, "--replay", "session.jsonl")
    assert replayed.returncode == 0, replayed.stderr
    assert (ws / "effects.log").read_text() == "recorded\n"


def test_remote_server_over_http_with_hosts_rules(tmp_path, http_server):  # noqa: F811
    servers = (
        "  docs:\n"
        f"    url: {http_server}\n"
        "    env: [DOCS_TOKEN]\n"
        '    headers: {Authorization: "Bearer {{ env.DOCS_TOKEN }}"}\n'
        "    timeout: 20s\n"
    )
    policy = OPEN_POLICY.replace("default: allow", "default: deny") + (
        "rules:\n"
        "  - {id: docs-here, tools: ['docs.*'], hosts: ['127.0.0.1'], decision: allow}\n"
        "  - {id: no-flood, tools: [docs.flood], decision: deny}\n"
    )
    steps = "  - id: ask\n    agent:\n      instructions: Ask docs.\n      tools: [docs.*]\n"
    script = [call("docs__lookup", key="k"), call("docs__flood", size=10), {"content": "done"}]
    with ScriptedOpenAIServer(script, by_turn=True) as model:
        setup(tmp_path, recipe_text(model.base_url, steps, extra_servers=servers), policy)
        listed = agentctl(
            ["mcp", "tools", "recipe.yaml", "--json"], tmp=tmp_path, DOCS_TOKEN="good-token-123"
        )
        assert listed.returncode == 0, listed.stderr
        rows = {r["tool"]: r for r in json.loads(listed.stdout)["tools"]}
        assert rows["docs.lookup"]["decision"] == "allow"
        assert rows["docs.flood"]["decision"] == "deny"
        assert rows["t.append"]["decision"] == "deny"  # the default: no rule for t
        assert rows["docs.lookup"]["input_schema"]["properties"]["key"]["type"] == "string"
        assert rows["docs.lookup"]["model_name"] == "docs__lookup"

        done = run(tmp_path, DOCS_TOKEN="good-token-123")
        assert done.returncode == 0, done.stderr
        log = events(tmp_path)
        started = [e for e in log if e["type"] == "action_started"]
        assert started[0]["host"] == "127.0.0.1"  # what `policy replay` decides hosts: with
        results = [e for e in log if e["type"] == "action_finished"]
        assert [(e["tool"], e["ok"]) for e in results] == [
            ("docs.lookup", True),
            ("docs.flood", False),
        ]
        assert "good-token-123" not in json.dumps(events(tmp_path))

        refused = run(tmp_path, DOCS_TOKEN="wrong-token-456")
    assert refused.returncode == 2
    assert "MCP server docs" in refused.stderr and "HTTP 401" in refused.stderr
    assert "Authorization" in refused.stderr and "wrong-token-456" not in refused.stderr


def test_mcp_tools_lists_reference_servers_and_policy_explain_names_them(tmp_path):
    policy = OPEN_POLICY.replace("default: allow", "default: ask") + (
        "read_only: [git.git_status]\n"
        "rules:\n"
        "  - {id: git-reads, tools: [git.git_status, git.git_log], decision: allow}\n"
        "  - {id: git-writes, tools: [git.git_commit], decision: deny}\n"
    )
    servers = f"  git:\n    command: {json.dumps(GIT_SERVER)}\n"
    setup(tmp_path, recipe_text("http://127.0.0.1:9/v1", ONE_AGENT, extra_servers=servers), policy)
    subprocess.run(["git", "init", "-q", str(tmp_path / "ws")], check=True)
    listed = agentctl(["mcp", "tools", "recipe.yaml", "--workspace", "ws"], tmp=tmp_path)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert any(line.startswith("allow  git.git_status (read-only)") for line in lines)
    assert any(line.startswith("deny   git.git_commit") for line in lines)
    assert any(line.startswith("ask    git.git_add") for line in lines)
    assert "args: repo_path: string" in listed.stdout
    explained = agentctl(
        ["policy", "explain", "policy.yaml", "--", "git.git_status", "repo_path=."], tmp=tmp_path
    )
    assert explained.returncode == 0 and explained.stdout.startswith("allow")
    assert "open:git-reads (allow)" in explained.stdout
