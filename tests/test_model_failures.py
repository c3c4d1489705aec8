"""A missing provider key is found before the first step; a job that failed on a model error
or a limit continues from its log once the cause is fixed (`resume`, `resume --limit`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import assert_bad_input, invoke
from scripted import ScriptedModel, tool_call
from test_engine import deps, make_job

from agentctl.engine.launch import parse_limits
from agentctl.engine.run import run_job
from agentctl.errors import UsageError
from agentctl.models.calls import ModelError
from agentctl.models.roles import check_models_configured
from agentctl.store.sqlite import SQLiteStore

RECIPE = """
version: 1
name: two
models:
  default: {model: openai/gpt-4.1-mini}
steps:
  - id: first
    run: echo ran >> effects.log
  - id: fix
    agent:
      instructions: Do it.
      tools: [shell]
"""


@pytest.fixture
def store(tmp_path) -> SQLiteStore:
    return SQLiteStore(tmp_path / "engine.db")


def test_a_missing_provider_key_stops_run_before_any_step(tmp_path, workspace):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE)
    result = invoke("run", str(recipe), "--workspace", str(workspace))
    assert_bad_input(result, "OPENAI_API_KEY", "openai/gpt-4.1-mini")
    assert not (workspace / "effects.log").exists()


def test_a_fallback_with_its_key_is_enough_and_local_servers_need_none():
    roles = {"default": {"model": "openai/gpt-4.1-mini", "fallbacks": ["anthropic/claude-x"]}}
    check_models_configured(roles, [], {"ANTHROPIC_API_KEY": "k"}, {"default"})
    with pytest.raises(UsageError, match="OPENAI_API_KEY"):
        check_models_configured(roles, [], {}, {"default"})
    local = {"default": {"model": "openai/llama", "api_base": "http://127.0.0.1:8080/v1"}}
    check_models_configured(local, [], {}, {"default"})
    check_models_configured({}, ["ollama_chat/llama3.1"], {}, {"default"})  # no key to check
    with pytest.raises(UsageError, match="ANTHROPIC_API_KEY"):
        check_models_configured({}, ["claude-sonnet-4-5"], {}, {"default"})


class FailingOnce(ScriptedModel):
    """Answers like ScriptedModel, but the first call fails as a provider outage would."""

    def __init__(self, script):
        super().__init__(script)
        self.failed = False

    def complete(self, *args, **kwargs):
        if not self.failed:
            self.failed = True
            raise ModelError("openai/gpt-4.1-mini: auth failed (401)", "check the key")
        return super().complete(*args, **kwargs)


def test_a_job_that_failed_on_a_model_error_resumes_from_its_log(store, workspace):
    job = make_job(store, workspace, RECIPE)
    model = FailingOnce([[tool_call("shell", command="echo agent >> effects.log")], "done"])
    failed = run_job(job, deps(store, model))
    assert failed.state == "failed" and failed.error["type"] == "model"
    resumed = run_job(job, deps(store, model))  # the key was fixed
    assert resumed.state == "succeeded"
    # The run step before the failure was not run again.
    assert (workspace / "effects.log").read_text().split() == ["ran", "agent"]


def test_a_job_that_hit_a_limit_resumes_with_a_higher_one(store, workspace):
    recipe = RECIPE.replace("models:", "limits: {max_turns: 1}\nmodels:")
    job = make_job(store, workspace, recipe)
    model = ScriptedModel([[tool_call("shell", command="echo agent >> effects.log")], "done"])
    failed = run_job(job, deps(store, model))
    assert failed.state == "failed" and failed.error["type"] == "limit"
    resumed = run_job(job, deps(store, model, limits={"max_turns": 5}))
    assert resumed.state == "succeeded", resumed.error
    assert (workspace / "effects.log").read_text().split() == ["ran", "agent"]
    assert len(model.calls) == 2  # the first answer came from the log
    # The change is in the vocabulary, so every renderer shows it (it used to be dropped).
    from agentctl.events import EventType
    from agentctl.ui.event_lines import describe_event

    changed = [e for e in store.read_events(job) if e.type == EventType.LIMITS_CHANGED]
    assert len(changed) == 1
    assert describe_event(changed[0].type, None, changed[0].data) == (
        "limits changed for the rest of the job: max_turns=5"
    )


def test_a_failed_step_is_not_resumable(store, workspace):
    job = make_job(store, workspace, "version: 1\nname: x\nsteps:\n  - {id: a, run: exit 3}\n")
    assert run_job(job, deps(store)).state == "failed"
    with pytest.raises(UsageError, match="already failed"):
        run_job(job, deps(store))


def test_limit_pairs_are_checked():
    assert parse_limits(["max_turns=60", "timeout=30m", "max_cost_usd=2.5"]) == {
        "max_turns": 60,
        "timeout": 1800.0,
        "max_cost_usd": 2.5,
    }
    for bad in ("turns=3", "max_turns", "max_turns=-1", "max_cost_usd=lots"):
        with pytest.raises(UsageError):
            parse_limits([bad])


def test_resume_limit_on_the_command_line(tmp_path: Path):
    result = invoke("resume", "last", "--limit", "nope=1")
    assert_bad_input(result, "nope")
