"""The runner with a scripted in-process model: steps, replay on resume, approvals, limits."""

from __future__ import annotations

import threading
import time

import pytest
from conftest import deps, make_job, simulate_crash_after_action_started
from scripted import ScriptedModel, ScriptExhausted, tool_call

from agentctl.engine.approvals import decide_approval
from agentctl.engine.jobs import cancel_job, describe_job
from agentctl.engine.run import run_job
from agentctl.errors import JobBusy, UsageError
from agentctl.process.procinfo import ProcessIdentity
from agentctl.store.sqlite import SQLiteStore

AGENT = """
version: 1
name: agent
steps:
  - id: fix
    agent:
      instructions: Create the file.
      tools: [write_file, read_file, shell]
"""


def events_of(store, job_id, type_=None):
    return [e for e in store.read_events(job_id) if type_ is None or e.type == type_]


def test_run_steps_share_outputs_through_templates(store, workspace):
    job = make_job(
        store,
        workspace,
        """
version: 1
name: two
params: {who: {type: string, default: world}}
steps:
  - id: first
    run: echo hello {{ params.who }}
  - id: second
    run: "echo 'got: {{ steps.first.output | trim }}' > got.txt"
""",
    )
    outcome = run_job(job, deps(store))
    assert outcome.state == "succeeded" and outcome.exit_code == 0
    assert (workspace / "got.txt").read_text() == "got: hello world\n"
    described = describe_job(store, store.get_job(job))
    assert [s["state"] for s in described["steps"]] == ["succeeded", "succeeded"]
    assert described["usage"]["tool_calls"] == 2


def test_failing_run_step_fails_the_job_and_names_the_step(store, workspace):
    job = make_job(
        store,
        workspace,
        """
version: 1
name: bad
steps:
  - id: boom
    run: exit 3
  - id: never
    run: touch never
""",
    )
    outcome = run_job(job, deps(store))
    assert outcome.state == "failed" and outcome.exit_code == 1
    assert outcome.error["type"] == "step_failed" and "boom" in outcome.error["message"]
    assert not (workspace / "never").exists()
    assert describe_job(store, store.get_job(job))["error"]["type"] == "step_failed"


def test_agent_loop_runs_tools_and_commits_response_before_the_action(store, workspace):
    model = ScriptedModel(
        [
            [tool_call("write_file", path="a.txt", content="hi")],
            [tool_call("read_file", path="a.txt")],
            "all done",
        ]
    )
    job = make_job(store, workspace, AGENT)
    outcome = run_job(job, deps(store, model))
    assert outcome.state == "succeeded"
    assert (workspace / "a.txt").read_text() == "hi"
    types = [e.type for e in events_of(store, job)]
    first_action = types.index("action_started")
    assert types[first_action - 1] == "model_response"
    # The model saw the tool result of its read.
    last_messages = model.calls[-1]["messages"]
    assert last_messages[-1]["role"] == "tool" and "hi" in last_messages[-1]["content"]
    assert [c["call_index"] for c in model.calls] == [0, 1, 2]
    steps = events_of(store, job, "step_finished")
    assert steps[-1].data["output"] == "all done"


def test_tool_errors_are_answers_not_crashes(store, workspace):
    model = ScriptedModel(
        [[tool_call("read_file", path="missing.txt"), tool_call("no_such_tool", x=1)], "ok"]
    )
    job = make_job(store, workspace, AGENT)
    assert run_job(job, deps(store, model)).state == "succeeded"
    tool_messages = [m for m in model.calls[-1]["messages"] if m["role"] == "tool"]
    assert tool_messages[0]["content"].startswith("error")
    assert "no_such_tool" in tool_messages[1]["content"]


def test_a_script_that_runs_out_fails_the_test_instead_of_answering(store, workspace):
    model = ScriptedModel([[tool_call("list_files")]])  # the model is asked again after it
    job = make_job(store, workspace, AGENT)
    with pytest.raises(ScriptExhausted, match="call 2"):
        run_job(job, deps(store, model))
    assert store.get_job(job)["state"] == "interrupted"


def test_resume_replays_the_log_without_asking_the_model_again(store, workspace):
    job = make_job(
        store,
        workspace,
        AGENT
        + """
  - id: gate
    approval: Ship it?
  - id: after
    run: echo shipped >> ship.log
""",
    )
    first = ScriptedModel([[tool_call("shell", command="echo run >> effects.log")], "done"])
    outcome = run_job(job, deps(store, first))
    assert outcome.state == "awaiting_approval" and outcome.exit_code == 3
    request = outcome.pending[0]["request"]
    decide_approval(store, job, request, "approve", by="tester", comment=None, now=time.time())
    second = ScriptedModel([])
    outcome = run_job(job, deps(store, second))
    assert outcome.state == "succeeded"
    assert second.calls == []  # nothing re-asked
    assert (workspace / "effects.log").read_text() == "run\n"  # nothing re-run
    assert (workspace / "ship.log").read_text() == "shipped\n"
    # The approval was used once: the record says so and cannot be decided again.
    with pytest.raises(UsageError):
        decide_approval(store, job, request, "approve", by="x", comment=None, now=time.time())


def test_denied_gate_fails_the_job(store, workspace):
    job = make_job(store, workspace, "version: 1\nname: g\nsteps:\n  - id: ok\n    approval: Go?\n")
    outcome = run_job(job, deps(store))
    decide_approval(store, job, None, "deny", by="tester", comment="no", now=time.time())
    outcome = run_job(job, deps(store))
    assert outcome.state == "failed" and "denied" in outcome.error["message"]


def test_interactive_approver_answers_in_process(store, workspace):
    job = make_job(store, workspace, "version: 1\nname: g\nsteps:\n  - id: ok\n    approval: Go?\n")
    asked = []
    outcome = run_job(job, deps(store, approver=lambda r: asked.append(r) or "approve"))
    assert outcome.state == "succeeded" and asked[0]["reason"] == "Go?"


def test_uncertain_side_effect_needs_approval_then_runs_once(store, workspace):
    job = make_job(store, workspace, AGENT)
    model = ScriptedModel([[tool_call("shell", command="echo x >> effects.log")], "done"])
    simulate_crash_after_action_started(store, job, model, workspace)
    assert describe_job(store, store.get_job(job))["state"] == "interrupted"
    outcome = run_job(job, deps(store, ScriptedModel(["done"])))
    assert outcome.state == "awaiting_approval"
    assert "uncertain" in outcome.pending[0]["reason"]
    assert outcome.pending[0]["tool"] == "shell"
    decide_approval(store, job, None, "approve", by="t", comment=None, now=time.time())
    after = ScriptedModel(["done"])
    assert run_job(job, deps(store, after)).state == "succeeded"
    assert (workspace / "effects.log").read_text() == "x\n"
    assert len(after.calls) == 1  # the first response was not asked again


def test_uncertain_read_only_action_reruns_by_itself(store, workspace):
    (workspace / "a.txt").write_text("content")
    job = make_job(store, workspace, AGENT)
    model = ScriptedModel([[tool_call("read_file", path="a.txt")], "done"])

    from agentctl.tools.toolbox import build_toolbox

    read_cls = type(build_toolbox({}, ["read_file"])["read_file"])
    original = read_cls.run

    class Crash(BaseException):
        pass

    read_cls.run = lambda self, args, ctx: (_ for _ in ()).throw(Crash())
    try:
        with pytest.raises(Crash):
            run_job(job, deps(store, model))
    finally:
        read_cls.run = original
    resumed = ScriptedModel(["done"])
    assert run_job(job, deps(store, resumed)).state == "succeeded"
    tool_message = next(m for m in resumed.calls[0]["messages"] if m["role"] == "tool")
    assert tool_message["content"] == "content" or "content" in tool_message["content"]


def test_denied_uncertain_action_is_told_to_the_model(store, workspace):
    job = make_job(store, workspace, AGENT)
    model = ScriptedModel([[tool_call("shell", command="echo x >> effects.log")]])
    simulate_crash_after_action_started(store, job, model, workspace)
    run_job(job, deps(store))
    decide_approval(store, job, None, "deny", by="t", comment=None, now=time.time())
    after = ScriptedModel(["ok then"])
    assert run_job(job, deps(store, after)).state == "succeeded"
    assert not (workspace / "effects.log").exists()
    assert "denied" in after.calls[0]["messages"][-1]["content"]


def test_max_turns_limit_fails_naming_the_limit(store, workspace):
    job = make_job(
        store,
        workspace,
        AGENT.replace(
            "tools: [write_file, read_file, shell]", "tools: [read_file]\n      max_turns: 3"
        ),
    )
    (workspace / "f").write_text("x")
    forever = ScriptedModel([[tool_call("read_file", path="f")]] * 50)
    outcome = run_job(job, deps(store, forever))
    assert outcome.state == "failed" and outcome.exit_code == 1
    assert outcome.error["type"] == "limit" and "max_turns" in outcome.error["message"]
    assert len(forever.calls) == 3


def test_job_wide_cost_limit_is_checked_before_the_call(store, workspace):
    job = make_job(
        store,
        workspace,
        "version: 1\nname: c\nlimits: {max_cost_usd: 0.25}\n" + AGENT.split("name: agent\n")[1],
    )
    (workspace / "f").write_text("x")
    pricey = ScriptedModel([[tool_call("read_file", path="f")]] * 50, cost_per_call=0.1)
    outcome = run_job(job, deps(store, pricey))
    assert outcome.error["type"] == "limit" and "max_cost_usd" in outcome.error["message"]
    assert describe_job(store, store.get_job(job))["usage"]["cost_usd"] <= 0.25


def test_cancel_from_elsewhere_kills_the_running_tool(store, workspace, tmp_path):
    job = make_job(
        store, workspace, "version: 1\nname: s\nsteps:\n  - id: slow\n    run: sleep 30\n"
    )
    result = {}
    thread = threading.Thread(target=lambda: result.update(o=run_job(job, deps(store))))
    started = time.monotonic()
    thread.start()
    other = SQLiteStore(store.path)
    while describe_job(other, other.get_job(job))["state"] != "running":
        time.sleep(0.02)
    time.sleep(0.3)
    cancel_job(other, job, wait=0)
    thread.join(timeout=10)
    assert result["o"].state == "cancelled" and result["o"].exit_code == 4
    assert time.monotonic() - started < 8


def test_cancel_of_a_job_with_no_runner_ends_it(store, workspace):
    job = make_job(store, workspace, "version: 1\nname: g\nsteps:\n  - id: ok\n    approval: Go?\n")
    run_job(job, deps(store))
    assert cancel_job(store, job) == "cancelled"
    with pytest.raises(UsageError):
        run_job(job, deps(store))


def test_second_runner_is_refused_naming_the_holder(store, workspace):
    job = make_job(store, workspace, "version: 1\nname: s\nsteps:\n  - id: a\n    run: 'true'\n")
    store.acquire_lease(
        job,
        host="h",
        pid=4242,
        start="1",
        now=time.time(),
        ttl=60,
        is_alive=lambda pid, start: True,
    )
    me = ProcessIdentity(host="h", pid=1, start="2")
    with pytest.raises(JobBusy) as info:
        run_job(job, deps(store, identity=me, is_alive=lambda pid, start: pid == 4242))
    assert "4242" in str(info.value) and info.value.exit_code == 2


def test_dead_runner_on_this_host_is_taken_over_at_once(store, workspace):
    job = make_job(store, workspace, "version: 1\nname: s\nsteps:\n  - id: a\n    run: 'true'\n")
    store.acquire_lease(
        job,
        host="h",
        pid=4242,
        start="1",
        now=time.time(),
        ttl=3600,
        is_alive=lambda pid, start: False,
    )
    me = ProcessIdentity(host="h", pid=1, start="2")
    outcome = run_job(job, deps(store, identity=me, is_alive=lambda pid, start: False))
    assert outcome.state == "succeeded"


def test_stale_runner_writes_are_refused(store, workspace):
    from agentctl.errors import LeaseLost
    from agentctl.store import NewEvent

    job = make_job(store, workspace, "version: 1\nname: s\nsteps:\n  - id: a\n    run: 'true'\n")
    alive = lambda pid, start: False  # noqa: E731
    old = store.acquire_lease(
        job, host="h", pid=1, start="", now=time.time(), ttl=60, is_alive=alive
    )
    new = store.acquire_lease(
        job, host="h", pid=2, start="", now=time.time(), ttl=60, is_alive=alive
    )
    with pytest.raises(LeaseLost):
        store.append_events(job, [NewEvent("x")], now=time.time(), token=old)
    store.append_events(job, [NewEvent("x")], now=time.time(), token=new)


def test_large_outputs_are_stored_once(store, workspace):
    job = make_job(
        store,
        workspace,
        "version: 1\nname: big\nsteps:\n"
        "  - id: a\n    run: yes x | head -n 20000 | tr -d '\\n'\n"
        "  - id: b\n    run: yes x | head -n 20000 | tr -d '\\n'\n",
    )
    assert run_job(job, deps(store)).state == "succeeded"
    blobs = store.conn.execute("SELECT COUNT(*), SUM(size) FROM blobs").fetchone()
    # The recipe text plus one copy of the 20,000-byte output, shared by both steps' events.
    assert blobs[0] == 2 and blobs[1] < 20000 + 2000
    outputs = [e.data["output"] for e in events_of(store, job, "action_finished")]
    assert outputs[0] == outputs[1] == "x" * 20000


@pytest.mark.parametrize("idempotent", [True, False])
def test_a_taken_over_idempotent_run_step_runs_again_without_a_person(store, workspace, idempotent):
    """A recipe's own `run:` step said to be idempotent (issue 25) is re-run after a crash
    as a read-only tool is; any other stays uncertain and waits for a person."""
    flag = "\n    idempotent: true" if idempotent else ""
    job = make_job(
        store,
        workspace,
        f"version: 1\nname: r\nsteps:\n  - id: sync\n    run: echo synced > state.txt{flag}\n",
    )
    simulate_crash_after_action_started(store, job, ScriptedModel([]), workspace)
    outcome = run_job(job, deps(store))
    if idempotent:
        assert outcome.state == "succeeded", outcome.error
        assert (workspace / "state.txt").read_text() == "synced\n"
    else:
        assert outcome.state == "awaiting_approval"
        assert "uncertain" in outcome.pending[0]["reason"]


def test_an_idempotent_custom_tool_may_run_again_after_a_crash():
    from agentctl.recipe.schema import CustomTool
    from agentctl.tools.custom import build_command_spec

    definition = CustomTool(description="sync", command="echo synced", idempotent=True)
    spec = build_command_spec("sync", definition)
    assert spec.idempotent and spec.rerun_without_asking and not spec.read_only


def test_only_a_run_step_can_be_idempotent():
    from agentctl.errors import RecipeError
    from agentctl.recipe.load import load_recipe_text

    with pytest.raises(RecipeError, match="only a run: step can be idempotent"):
        load_recipe_text(
            "version: 1\nname: r\nsteps:\n  - id: a\n    approval: Go?\n    idempotent: true\n",
            "r.yaml",
        )


def test_warn_once_writes_a_warning_once_per_runner():
    from types import SimpleNamespace

    from agentctl.engine.run.state import RunState

    added: list[tuple] = []
    fake = SimpleNamespace(
        _warned=set(),
        journal=SimpleNamespace(add=lambda *a, **k: added.append(a), commit=lambda: None),
    )
    for _ in range(3):
        RunState.warn_once(fake, "the workspace snapshot took 9 s")  # type: ignore[arg-type]
    RunState.warn_once(fake, "another")  # type: ignore[arg-type]
    assert [a[0].message for a in added] == ["the workspace snapshot took 9 s", "another"]
