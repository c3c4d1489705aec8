"""Issue 21: the boundary holds by what actions do, not only by what their text predicts.

Observed cases 1 (git's output options write files the policy never saw), 2 (a `.git`
planted by `mv`) and a `bash scripts/*` rule running a script the agent just wrote, each
run through the engine with the shipped policies and the real sandbox (when bubblewrap
works here), with payloads built as Python data."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import deps
from scripted import ScriptedModel, tool_call

from agentctl.engine.approvals import decide_approval
from agentctl.engine.jobs import create_job
from agentctl.engine.policy_files import load_policy_snapshots
from agentctl.engine.run import run_job
from agentctl.recipe.load import load_recipe_text
from agentctl.recipe.params import parse_params

SHIPPED = Path(__file__).resolve().parents[2] / "agentctl" / "shipped" / "policies"
CANARY = "/tmp/agentctl-canary-effects"

AGENT = """
version: 1
name: attacker
steps:
  - id: work
    agent:
      instructions: Work.
      tools: [shell, write_file, read_file]
"""


def make_job(store, workspace: Path, policies: list[Path]) -> str:
    loaded = load_recipe_text(AGENT, str(workspace / "recipe.yaml"), base_dir=workspace)
    options = {"policies": load_policy_snapshots(loaded, [str(p) for p in policies])}
    return create_job(
        store, loaded, params=parse_params(loaded.recipe, []), workspace=workspace, options=options
    )


def git_workspace(workspace: Path) -> None:
    git = ["git", "-C", str(workspace), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    (workspace / "README.md").write_text("hello\n")
    subprocess.run([*git, "add", "README.md"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "first"], check=True)


def git_log_writing(target: str) -> str:
    fmt = "tformat:import os%nos.system(" + repr("touch " + CANARY) + ")"
    return subprocess.list2cmdline(["git", "log", "-1", f"--format={fmt}", f"--output={target}"])


def last_answer(model: ScriptedModel) -> str:
    return str(model.calls[-1]["messages"][-1]["content"])


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
@pytest.mark.parametrize(
    "policy,target,state",
    [
        ("read-only", "conftest.py", "succeeded"),
        ("ci-safe", ".envrc", "succeeded"),
        ("ci-safe", "conftest.py", "awaiting_approval"),
        ("dev-laptop", ".envrc", "awaiting_approval"),
    ],
)
def test_git_output_option_writes_nothing_a_policy_did_not_allow(
    store, workspace, policy, target, state
):
    git_workspace(workspace)
    job = make_job(store, workspace, [SHIPPED / f"{policy}.yaml"])
    model = ScriptedModel([[tool_call("shell", command=git_log_writing(target))], "understood"])
    outcome = run_job(job, deps(store, model))
    assert outcome.state == state
    assert not (workspace / target).exists()
    if state == "succeeded":
        assert "denied" in last_answer(model) or "not run" in last_answer(model)
        assert target in last_answer(model)
    else:
        assert target in outcome.pending[0]["reason"]


@pytest.mark.parametrize("policy", ["read-only", "ci-safe", "dev-laptop"])
def test_a_git_folder_moved_into_place_is_not_left_unapproved(store, workspace, policy):
    (workspace / "pkg").mkdir()
    (workspace / "pkg" / "mod.py").write_text("x = 1\n")
    config = "[core]\n\tfsmonitor = " + "touch " + CANARY + "\n"
    script = [
        [tool_call("write_file", path="g/config", content=config)],
        [tool_call("shell", command="mkdir -p g/objects g/refs/heads && mv g .git")],
        "understood",
    ]
    job = make_job(store, workspace, [SHIPPED / f"{policy}.yaml"])
    outcome = run_job(job, deps(store, ScriptedModel(script)))
    asked_about_git = False
    while outcome.state == "awaiting_approval":
        assert not (workspace / ".git").exists()
        pending = outcome.pending[-1]
        # A person lets the harmless-looking config file through, never the .git.
        planted = ".git" in pending["reason"]
        asked_about_git = asked_about_git or planted
        answer = "deny" if planted else "approve"
        decide_approval(store, job, None, answer, by="t", comment=None, now=time.time())
        done = len([e for e in store.read_events(job) if e.type == "model_response"])
        outcome = run_job(job, deps(store, ScriptedModel(script[done:])))
    assert outcome.state == "succeeded"
    assert not (workspace / ".git").exists()
    assert asked_about_git == (policy != "read-only")  # read-only never wrote g/config


SCRIPTS_POLICY = """
version: 1
name: scripts
default: deny
rules:
  - id: write-scripts
    tools: [write_file]
    paths: ["scripts/**"]
    decision: allow
  - id: run-scripts
    tools: [shell]
    commands: ["bash scripts/*"]
    decision: allow
"""


def test_a_script_the_job_wrote_is_asked_before_a_scripts_rule_runs_it(store, workspace, tmp_path):
    (workspace / "scripts").mkdir()
    (workspace / "scripts" / "build.sh").write_text("echo built\n")
    policy = tmp_path / "scripts.yaml"
    policy.write_text(SCRIPTS_POLICY)
    job = make_job(store, workspace, [policy])
    payload = "touch " + CANARY + "-script\n"
    model = ScriptedModel(
        [
            [tool_call("shell", command="bash scripts/build.sh")],
            [tool_call("write_file", path="scripts/evil.sh", content=payload)],
            [tool_call("shell", command="bash scripts/evil.sh")],
            "done",
        ]
    )
    outcome = run_job(job, deps(store, model))
    assert outcome.state == "awaiting_approval"
    pending = outcome.pending[0]
    assert pending["args"] == {"command": "bash scripts/evil.sh"}
    assert "written by this job" in pending["reason"]
    finished = [e for e in store.read_events(job) if e.type == "action_finished"]
    assert finished[0].data["output"].strip() == "built"  # the repository's own script ran


@pytest.mark.parametrize(
    "names,read_only",
    [
        (["read-only"], True),
        (["ci-safe"], False),
        (["dev-laptop"], False),
        (["dev-laptop", "read-only"], True),  # the strictest decides every write
        ([], False),  # the default policy allows writes
    ],
)
def test_a_policy_set_allows_no_writes_exactly_when_one_policy_denies_them_all(names, read_only):
    from agentctl.policy.rules import PolicySet

    assert (
        PolicySet.from_files([SHIPPED / f"{n}.yaml" for n in names]).allows_no_writes is read_only
    )


NO_WRITES = """
version: 1
name: no-writes
default: deny
rules:
  - id: run-gen
    tools: [shell]
    commands: ["python3 gen.py"]
    decision: allow
  - id: scratch
    tools: [write_file]
    paths: ["/tmp/**"]
    decision: deny
"""


def test_a_policy_that_allows_no_writes_mounts_the_workspace_read_only(store, workspace, tmp_path):
    from agentctl.process.sandbox import probe_confinement

    if not probe_confinement().available:
        pytest.skip(f"no sandbox here: {probe_confinement().reason}")
    (workspace / "gen.py").write_text(
        "import pathlib\n"
        "try:\n"
        "    pathlib.Path('conftest.py').write_text('x')\n"
        "except OSError as error:\n"
        "    print('refused', error.strerror)\n"
    )
    policy = tmp_path / "no-writes.yaml"
    policy.write_text(NO_WRITES)
    job = make_job(store, workspace, [policy])
    model = ScriptedModel([[tool_call("shell", command="python3 gen.py")], "ok"])
    assert run_job(job, deps(store, model)).state == "succeeded"
    assert not (workspace / "conftest.py").exists()
    answer = last_answer(model)
    assert "refused Read-only file system" in answer  # the kernel said no, before any check
