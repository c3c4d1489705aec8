"""Issue 21 at the policy layer: protected names and git's output options are writes, code the
job wrote is asked before it runs, observed changes are decided as writes, and the change
recorder sees what those decisions need (protected names git ignores, a `.git` appearing)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from agentctl.changes.record import ChangeRecorder
from agentctl.policy.effects import check_effects
from agentctl.policy.git_code import git_output_paths
from agentctl.policy.match import writes_denied
from agentctl.policy.protected import hooks_paths, protected_reason
from agentctl.policy.rules import PolicySet, load_policy_text
from agentctl.policy.shellwords import parse_command
from agentctl.policy.written_code import job_code_run

SHIPPED = Path(__file__).resolve().parents[1] / "agentctl" / "shipped" / "policies"
OPEN = "version: 1\nname: open\ndefault: allow\n"


def decide(workspace: Path, command: str, policy: str = OPEN, written=frozenset()):
    policies = PolicySet([load_policy_text(policy, "p.yaml")])
    return policies.decide("shell", {"command": command}, workspace=workspace, written=written)


def builtin_ids(decision) -> set[str]:
    return {r["id"] for r in decision.rule_objects if r["policy"] == "builtin"}


@pytest.mark.parametrize(
    "args,paths",
    [
        (("log", "-1", "--output=conftest.py"), ["conftest.py"]),
        (("diff", "--output", ".envrc", "HEAD"), [".envrc"]),
        (("show", "-oout.txt"), ["out.txt"]),
        (("format-patch", "-1", "-o", "patches"), ["patches"]),
        (("format-patch", "--output-directory=p"), ["p"]),
        (("-C", "sub", "log", "--output=x"), ["sub/x"]),
        (("log", "--oneline", "--output-indicator-new=+"), []),
        (("status", "-o", "x"), []),  # -o means output only where git reads it so
        (("log", "--", "--output=x"), []),  # a pathspec
    ],
)
def test_git_output_options_name_the_paths_they_write(args, paths):
    assert git_output_paths(args) == paths


@pytest.mark.parametrize(
    "policy,target,expected",
    [
        ("read-only", "conftest.py", "deny"),
        ("ci-safe", "conftest.py", "ask"),
        ("ci-safe", ".envrc", "deny"),
        ("dev-laptop", "conftest.py", "allow"),
        ("dev-laptop", ".envrc", "ask"),
    ],
)
def test_git_output_is_decided_as_a_write_under_the_shipped_policies(
    workspace, policy, target, expected
):
    policies = PolicySet.from_files([SHIPPED / f"{policy}.yaml"])
    command = f"git log -1 --format=x --output={target}"
    got = policies.decide("shell", {"command": command}, workspace=workspace)
    assert got.decision == expected, got.reason


@pytest.mark.parametrize(
    "command",
    [
        "mv g .git",
        "cp -r g sub/.git",
        "mkdir -p .husky && echo x > .husky/pre-commit",
        "cp tasks.json .vscode/tasks.json",
        "ln -s evil .envrc",
        "touch .agentctl/state",
    ],
)
def test_protected_names_are_asked_whatever_the_policy_allows(workspace, command):
    got = decide(workspace, command)
    assert got.decision == "ask" and "protected-name" in builtin_ids(got), got.reason


def test_an_existing_git_folder_named_as_an_argument_is_not_a_write(workspace):
    (workspace / ".git").mkdir()
    assert decide(workspace, "git --git-dir .git log").decision == "allow"
    assert decide(workspace, "ls .git").decision == "allow"


def test_core_hooks_path_names_a_protected_folder(workspace):
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    subprocess.run(["git", "-C", str(workspace), "config", "core.hooksPath", "tools/hooks"])
    root = str(workspace.resolve())
    assert hooks_paths(root) == ("tools/hooks",)
    assert protected_reason("tools/hooks/pre-commit", hooks_paths(root)) is not None
    got = decide(workspace, "cp x tools/hooks/pre-commit")
    assert got.decision == "ask" and "core.hooksPath" in got.reason


@pytest.mark.parametrize(
    "command,runs",
    [
        ("bash scripts/x.sh", "scripts/x.sh"),
        ("sh -e scripts/x.sh arg", "scripts/x.sh"),
        ("python3 scripts/x.sh", "scripts/x.sh"),
        ("./scripts/x.sh", "scripts/x.sh"),
        ("source scripts/x.sh", "scripts/x.sh"),
        (". ./scripts/x.sh", "scripts/x.sh"),
        ("make test", "Makefile"),
        ("npm run build", "package.json"),
        ("pytest -q", "tests/conftest.py"),
        ("python -m pytest", "tests/conftest.py"),
        ("bash scripts/other.sh", None),
        ("cat scripts/x.sh", None),
        ("python3 -c 'print(1)'", None),
        ("npm install", None),
    ],
)
def test_commands_that_run_a_file_the_job_wrote(workspace, command, runs):
    written = {"scripts/x.sh", "Makefile", "package.json", "tests/conftest.py"}
    root = str(workspace.resolve())
    (parsed,) = [c for c in parse_command(command).commands if c.name]
    assert job_code_run(parsed, root, written) == runs


@pytest.mark.parametrize("policy", ["read-only", "ci-safe", "dev-laptop"])
def test_running_job_written_code_asks_under_every_shipped_policy(workspace, policy):
    policies = PolicySet.from_files([SHIPPED / f"{policy}.yaml"])
    got = policies.decide(
        "shell", {"command": "pytest -x"}, workspace=workspace, written={"conftest.py"}
    )
    assert got.decision in ("ask", "deny")
    assert "job-written-code" in builtin_ids(got)
    assert "written by this job" in got.reason or got.decision == "deny"


def test_observed_changes_are_decided_as_writes(workspace):
    policies = PolicySet.from_files([SHIPPED / "ci-safe.yaml"])
    changes = [
        {"path": "src/app.py", "kind": "modified"},
        {"path": "notes.md", "kind": "renamed", "from_path": "src/old.md"},
        {"path": ".envrc", "kind": "created"},
    ]
    check = check_effects(policies, "shell", changes, [], workspace=workspace)
    by_path = {v.path: v.decision.decision for v in check.verdicts}
    assert by_path == {
        "src/app.py": "allow",
        "notes.md": "ask",
        "src/old.md": "allow",
        ".envrc": "deny",
    }
    assert check.decision == "deny" and ".envrc" in check.reason()
    marker = check_effects(
        policies, "shell", [], [{"path": "pkg/.git", "kind": "created"}], workspace=workspace
    )
    assert marker.decision == "ask" and "pkg/.git" in marker.reason()
    approved = check_effects(
        policies, "shell", changes[:2], [], workspace=workspace, approved=frozenset({"notes.md"})
    )
    assert approved.decision == "allow"


def test_a_policy_denies_all_writes_only_with_no_write_rule_that_allows_or_asks():
    base = "version: 1\nname: p\ndefault: deny\n"
    assert writes_denied(load_policy_text(base, "p.yaml"))
    assert not writes_denied(load_policy_text(base.replace("deny", "ask"), "p.yaml"))
    scratch = base + "rules:\n  - {id: w, tools: [write_file], paths: [out/**], decision: ask}\n"
    assert not writes_denied(load_policy_text(scratch, "p.yaml"))
    shell = base + "rules:\n  - {id: s, tools: [shell], commands: [ls *], decision: allow}\n"
    assert writes_denied(load_policy_text(shell, "p.yaml"))


def test_the_recorder_sees_protected_names_git_ignores_and_a_git_appearing(workspace):
    (workspace / ".gitignore").write_text(".vscode/\n.envrc\nbuild/\n")
    recorder = ChangeRecorder(workspace)
    token = recorder.before(None, {})
    (workspace / ".vscode").mkdir()
    (workspace / ".vscode" / "tasks.json").write_text("{}")
    (workspace / ".envrc").write_text("x")
    (workspace / "build").mkdir()
    (workspace / "build" / "out.o").write_text("ignored")
    (workspace / "pkg" / ".git").mkdir(parents=True)
    changes, markers = recorder.after_with_markers(token)
    assert sorted(c["path"] for c in changes) == [".envrc", ".vscode/tasks.json"]
    assert markers == [{"path": "pkg/.git", "kind": "created"}]
    token = recorder.before(None, {})
    assert recorder.after_with_markers(token) == ([], [])  # an unchanged .git is no change


def test_the_recorder_sees_a_git_folders_config_and_hooks_change(workspace):
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    (workspace / "app.py").write_text("x = 1\n")
    recorder = ChangeRecorder(workspace)
    recorder.prime()
    token = recorder.before(None, {})
    (workspace / ".git" / "hooks" / "pre-commit").write_text("#!/bin/sh\ntouch /tmp/x\n")
    with open(workspace / ".git" / "config", "a") as fh:
        fh.write("[core]\n\tfsmonitor = touch /tmp/x\n")
    (workspace / ".git" / "HEAD").write_text("ref: refs/heads/other\n")  # not watched
    changes, markers = recorder.after_with_markers(token)
    assert markers == []
    assert [(c["path"], c["kind"]) for c in changes] == [
        (".git/config", "modified"),
        (".git/hooks/pre-commit", "created"),
    ]
    policies = PolicySet.from_files([SHIPPED / "dev-laptop.yaml"])
    check = check_effects(policies, "shell", changes, markers, workspace=workspace)
    assert check.decision == "ask" and ".git/config" in check.reason()
