"""End to end: the installed CLI in a subprocess, a scripted OpenAI-compatible server on
127.0.0.1, and litellm's real request path in between."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import agentctl as run_agentctl
from fakeserver import ScriptedOpenAIServer

# Slow and end to end: each test runs agentctl against the scripted HTTP server.
pytestmark = [pytest.mark.slow, pytest.mark.e2e]

KEY = "sk-canary-e2e-0123456789abcdef"

RECIPE = """
version: 1
name: notes
models:
  default: {{model: openai/fake-model, api_base: "{base}", api_key_env: FAKE_KEY}}
limits: {{max_turns: {max_turns}}}
steps:
  - id: context
    run: ls
  - id: write
    agent:
      instructions: |
        Write NOTES.md listing these files:
        {{{{ steps.context.output }}}}
      tools: [write_file, read_file, list_files]
"""

SCRIPT = [
    {"tool_calls": [{"name": "list_files", "arguments": {}}]},
    {
        "tool_calls": [
            {
                "name": "write_file",
                "arguments": {"path": "NOTES.md", "content": "# Notes\n- a.txt\n"},
            }
        ]
    },
    {"content": "Wrote NOTES.md."},
]


def agentctl(args, db: Path, cwd: Path, **env) -> subprocess.CompletedProcess:
    return run_agentctl(args, db, cwd, FAKE_KEY=KEY, **env)


def make_workspace(root: Path, name: str) -> Path:
    ws = root / name
    ws.mkdir()
    (ws / "a.txt").write_text("a")
    return ws


def test_record_then_replay_without_the_server_gives_the_same_effects(tmp_path):
    db = tmp_path / "agentctl.db"
    cassette = tmp_path / "session.jsonl"
    with ScriptedOpenAIServer(SCRIPT) as server:
        recipe = tmp_path / "notes.yaml"
        recipe.write_text(RECIPE.format(base=server.base_url, max_turns=10))
        first = make_workspace(tmp_path, "first")
        done = agentctl(
            ["run", str(recipe), "--workspace", str(first), "--record", str(cassette), "--json"],
            db,
            tmp_path,
        )
        assert done.returncode == 0, done.stderr
        job = json.loads(done.stdout)
        assert job["usage"]["model_calls"] == 3 and job["usage"]["input_tokens"] > 0
        # litellm really spoke HTTP, with the key in the header only.
        assert len(server.chat_requests) == 3
        assert server.chat_requests[0]["headers"]["authorization"] == f"Bearer {KEY}"
        sent = server.chat_requests[0]["body"]
        assert "a.txt" in sent["messages"][0]["content"]  # the template saw the run step
        assert {t["function"]["name"] for t in sent["tools"]} == {
            "write_file",
            "read_file",
            "list_files",
        }
    assert (first / "NOTES.md").read_text() == "# Notes\n- a.txt\n"

    # The server is gone: the replay answers from the recording alone.
    second = make_workspace(tmp_path, "second")
    replayed = agentctl(
        ["run", str(recipe), "--workspace", str(second), "--replay", str(cassette), "--json"],
        db,
        tmp_path,
    )
    assert replayed.returncode == 0, replayed.stderr
    assert (second / "NOTES.md").read_text() == (first / "NOTES.md").read_text()

    log = agentctl(["log", "last", "--json"], db, tmp_path)
    responses = [
        json.loads(line)
        for line in log.stdout.splitlines()
        if json.loads(line)["type"] == "model_response"
    ]
    assert [r["reply"]["model"] for r in responses] == ["openai/fake-model"] * 3

    # The key never reaches the cassette, the database, the log or the output.
    for blob in (
        cassette.read_bytes(),
        db.read_bytes(),
        log.stdout.encode(),
        done.stdout.encode(),
        done.stderr.encode(),
    ):
        assert KEY.encode() not in blob
    wal = Path(str(db) + "-wal")
    if wal.exists():
        assert KEY.encode() not in wal.read_bytes()


def test_a_diverging_replay_fails_naming_the_model_call(tmp_path):
    db = tmp_path / "agentctl.db"
    cassette = tmp_path / "session.jsonl"
    with ScriptedOpenAIServer(SCRIPT) as server:
        recipe = tmp_path / "notes.yaml"
        recipe.write_text(RECIPE.format(base=server.base_url, max_turns=10))
        ws = make_workspace(tmp_path, "ws")
        assert (
            agentctl(
                ["run", str(recipe), "--workspace", str(ws), "--record", str(cassette)],
                db,
                tmp_path,
            ).returncode
            == 0
        )
    other = make_workspace(tmp_path, "other")
    (other / "b.txt").write_text("b")  # the run step's output, and so the prompt, differ
    failed = agentctl(
        ["run", str(recipe), "--workspace", str(other), "--replay", str(cassette), "--json"],
        db,
        tmp_path,
    )
    assert failed.returncode == 1, failed.stderr
    error = json.loads(failed.stdout)["error"]
    assert error["type"] == "model" and "model call 0" in error["message"]


def test_max_turns_stops_a_model_that_never_stops(tmp_path):
    db = tmp_path / "agentctl.db"
    forever = [{"tool_calls": [{"name": "list_files", "arguments": {}}]}] * 20
    with ScriptedOpenAIServer(forever) as server:
        recipe = tmp_path / "loop.yaml"
        recipe.write_text(RECIPE.format(base=server.base_url, max_turns=3))
        ws = make_workspace(tmp_path, "ws")
        done = agentctl(["run", str(recipe), "--workspace", str(ws), "--json"], db, tmp_path)
        assert done.returncode == 1, done.stderr
        job = json.loads(done.stdout)
        assert job["error"]["type"] == "limit" and "max_turns" in job["error"]["message"]
        assert len(server.chat_requests) == 3


def test_a_run_nobody_watches_does_not_ask_the_model_to_stream(tmp_path):
    # Plain output (a pipe) and --json show no text as it arrives: streaming would only cost.
    db = tmp_path / "agentctl.db"
    with ScriptedOpenAIServer(SCRIPT * 2) as server:
        recipe = tmp_path / "notes.yaml"
        recipe.write_text(RECIPE.format(base=server.base_url, max_turns=10))
        for n, flags in enumerate(([], ["--json"])):
            ws = make_workspace(tmp_path, f"ws{n}")
            done = agentctl(["run", str(recipe), "--workspace", str(ws), *flags], db, tmp_path)
            assert done.returncode == 0, done.stderr
        assert len(server.chat_requests) == 6
        assert [r["body"].get("stream") for r in server.chat_requests] == [None] * 6


FALLBACK_RECIPE = """
version: 1
name: fallback
models:
  default:
    model: openai/primary-model
    api_base: "{primary}"
    api_key_env: FAKE_KEY
    fallbacks: [backup]
  backup: {{model: openai/backup-model, api_base: "{backup}", api_key_env: FAKE_KEY}}
steps:
  - id: talk
    agent:
      instructions: Say hello.
      tools: []
"""


def test_primary_500s_fall_back_and_the_log_says_why(tmp_path):
    db = tmp_path / "agentctl.db"
    failing = [{"status": 500}] * 10
    with (
        ScriptedOpenAIServer(failing, exhausted={"status": 500}) as primary,
        ScriptedOpenAIServer([{"content": "hello from the backup"}]) as backup,
    ):
        recipe = tmp_path / "fallback.yaml"
        recipe.write_text(FALLBACK_RECIPE.format(primary=primary.base_url, backup=backup.base_url))
        ws = make_workspace(tmp_path, "ws")
        done = agentctl(["run", str(recipe), "--workspace", str(ws), "--json"], db, tmp_path)
        assert done.returncode == 0, done.stderr
        assert len(primary.chat_requests) >= 2  # retried before giving up on it
        assert len(backup.chat_requests) == 1
    log = agentctl(["log", "last", "--json"], db, tmp_path)
    reply = next(
        json.loads(line)["reply"]
        for line in log.stdout.splitlines()
        if json.loads(line)["type"] == "model_response"
    )
    assert reply["model"] == "openai/backup-model"
    assert reply["attempts"] and all(
        a["model"] == "openai/primary-model" for a in reply["attempts"]
    )
    assert "500" in reply["attempts"][-1]["reason"]
