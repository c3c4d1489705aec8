"""`agentctl policy explain` and `agentctl validate` of policies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import assert_bad_input, invoke

POLICIES = Path(__file__).parent.parent / "policies"
CI_SAFE = str(POLICIES / "ci-safe.yaml")


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch):
    # validate runs policy tests in the user cache dir; keep it inside the test's folder.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.mark.parametrize(
    "action, first",
    [
        (["shell", "command=git status"], "allow"),
        (["shell", "command=git push origin main"], "ask"),
        (["shell", "command=git status; rm -rf /"], "deny"),
        (["read_file", "path=src/.env"], "deny"),
        (["write_file", "path=src/app.py"], "allow"),
        (["http_get", "url=http://169.254.169.254/"], "deny"),
    ],
)
def test_explain_prints_the_decision_first(workspace, action, first):
    result = invoke("policy", "explain", CI_SAFE, "--workspace", str(workspace), "--", *action)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.split()[0] == first
    assert "rules:" in result.stdout and "reason:" in result.stdout


def test_explain_lists_every_rule_that_voted(workspace):
    result = invoke(
        "policy",
        "explain",
        CI_SAFE,
        "--workspace",
        str(workspace),
        "--",
        "shell",
        "command=git status; rm -rf /",
    )
    assert "ci-safe:safe-commands (allow)" in result.stdout
    assert "ci-safe:no-destruction (deny)" in result.stdout


def test_explain_json(workspace):
    result = invoke(
        "policy",
        "explain",
        CI_SAFE,
        "--workspace",
        str(workspace),
        "--json",
        "--",
        "shell",
        "command=git push --force origin main",
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["decision"] == "deny"
    rules = {(r["policy"], r["id"]): r for r in doc["rules"]}
    assert rules["ci-safe", "no-destruction"]["decision"] == "deny"
    assert rules["ci-safe", "no-destruction"]["reason"] == "destructive"
    assert rules["ci-safe", "push-needs-a-human"]["decision"] == "ask"
    assert all(set(r) == {"policy", "id", "decision", "reason"} for r in doc["rules"])


def test_explain_several_policies_strictest_wins(workspace):
    result = invoke(
        "policy",
        "explain",
        str(POLICIES / "dev-laptop.yaml"),
        str(POLICIES / "read-only.yaml"),
        "--workspace",
        str(workspace),
        "--json",
        "--",
        "write_file",
        "path=notes.md",
    )
    doc = json.loads(result.stdout)
    assert doc["decision"] == "deny"
    votes = {(r["policy"], r["id"], r["decision"]) for r in doc["rules"]}
    assert ("dev-laptop", "files-in-workspace", "allow") in votes
    assert ("read-only", "default", "deny") in votes


def test_explain_without_policy_uses_the_default(workspace):
    result = invoke(
        "policy", "explain", "--workspace", str(workspace), "--", "shell", "command=ls -la"
    )
    assert result.exit_code == 0 and result.stdout.split()[0] == "allow"
    assert "built-in default" in result.stdout


def test_explain_values_may_look_like_options(workspace):
    result = invoke(
        "policy",
        "explain",
        CI_SAFE,
        "--workspace",
        str(workspace),
        "--json",
        "--",
        "shell",
        "command=--help",
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["decision"] == "ask"


@pytest.mark.parametrize(
    "args, needle",
    [
        ([CI_SAFE, "--", "shell"], "command="),
        ([CI_SAFE, "--", "shell", "nonsense"], "ARG=VALUE"),
        ([CI_SAFE, "--"], "no action"),
        ([CI_SAFE], "no action"),
        ([CI_SAFE, "--", "shell", "command=a", "command=b"], "twice"),
        (["missing.yaml", "--", "shell", "command=ls"], "not found"),
        ([CI_SAFE, "--workspace", "/no/such/dir", "--", "shell", "command=ls"], "not a directory"),
    ],
)
def test_explain_bad_input_exits_2(args, needle):
    assert_bad_input(invoke("policy", "explain", *args), needle)


def test_explain_bad_policy_names_file_line_column(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nname: bad\nrules:\n  - {id: x, decison: allow}\n")
    result = invoke("policy", "explain", str(bad), "--", "shell", "command=ls")
    assert_bad_input(result, f"{bad}:4:", "decision")


def test_validate_the_shipped_policies_and_recipes():
    recipes = sorted(str(p) for p in (POLICIES.parent / "recipes").glob("*.yaml"))
    files = sorted(str(p) for p in POLICIES.glob("*.yaml"))
    result = invoke("validate", *files, *recipes)
    assert result.exit_code == 0, result.stderr
    for name in ("ci-safe", "dev-laptop", "read-only"):
        assert f"policy {name}, " in result.stdout
    assert "tests pass" in result.stdout and "recipe 'fix-failing-test'" in result.stdout


def test_validate_a_policy_with_a_failing_test(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "version: 1\nname: p\ndefault: ask\nrules:\n"
        "  - {id: st, tools: [shell], commands: ['git status'], decision: allow}\n"
        "tests:\n"
        "  - {tool: shell, args: {command: 'git status'}, expect: allow}\n"
        "  - {tool: shell, args: {command: 'git status; rm -rf /'}, expect: allow}\n"
    )
    result = invoke("validate", str(path))
    assert_bad_input(result, f"{path}:8:5: test 2", "expected allow, got deny", exit_code=1)
    assert "ok " not in result.stdout


def test_validate_reports_policy_schema_errors(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("version: 1\nname: p\ndefault: maybe\n")
    assert_bad_input(invoke("validate", str(path)), f"{path}:3:10", exit_code=1)


def test_validate_counts_rules_and_tests(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "version: 1\nname: tiny\nrules:\n  - {id: a, decision: allow}\n"
        "tests:\n  - {tool: read_file, args: {path: x}, expect: allow}\n"
    )
    result = invoke("validate", str(path))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == f"ok {path}: policy tiny, 1 rules, 1 tests pass"


def test_explain_names_built_in_votes_with_their_reason(workspace):
    result = invoke(
        "policy", "explain", "--workspace", str(workspace), "--json", "--",
        "shell", "command=$CMD x",
    )  # fmt: skip
    doc = json.loads(result.stdout)
    assert doc["decision"] == "ask"
    builtin = [r for r in doc["rules"] if r["policy"] == "builtin"]
    assert [r["id"] for r in builtin] == ["unknown-command"]
    assert "any program" in builtin[0]["reason"]
    plain = invoke(
        "policy", "explain", "--workspace", str(workspace), "--", "shell", "command=$CMD x"
    )  # fmt: skip
    assert "  builtin:unknown-command (ask): " in plain.stdout


def test_explain_under_allow_all_decides_unknown_values(tmp_path, workspace):
    allow_all = tmp_path / "allow-all.yaml"
    allow_all.write_text("version: 1\nname: allow-all\ndefault: allow\n")
    for command in [
        "echo $HOME",
        'ls "$PWD"',
        "for f in *.py; do echo $f; done",
        "[[ -f x ]] && echo y",
        "case x in a) echo;; esac",
        "echo $((1+2))",
    ]:
        result = invoke(
            "policy", "explain", str(allow_all), "--workspace", str(workspace), "--json",
            "--", "shell", f"command={command}",
        )  # fmt: skip
        doc = json.loads(result.stdout)
        assert doc["decision"] == "allow", (command, doc)
        assert doc["rules"] == [
            {
                "policy": "allow-all",
                "id": "default",
                "decision": "allow",
                "reason": doc["rules"][0]["reason"],
            }
        ]
        assert doc["rules"][0]["reason"].startswith("no rule of allow-all matches")


def test_explain_says_when_the_tool_is_not_a_built_in_one(workspace):
    """`shel` is decided as written (a recipe's own tool could be named so), but a person is
    told it is no built-in tool, and what they may have meant (issue 24)."""
    result = invoke("policy", "explain", CI_SAFE, "--workspace", str(workspace), "--", "shel",
                    "command=git status")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.stdout.split()[0] == "ask"
    assert "`shel` is not a built-in tool" in result.stderr
    assert "did you mean `shell`?" in result.stderr
    known = invoke("policy", "explain", CI_SAFE, "--workspace", str(workspace), "--", "shell",
                   "command=git status")  # fmt: skip
    assert "built-in" not in known.stderr


def test_a_path_outside_the_workspace_names_the_workspace(workspace):
    result = invoke(
        "policy", "explain", CI_SAFE, "--workspace", str(workspace), "--", "read_file",
        "path=/etc/passwd",
    )  # fmt: skip
    assert result.stdout.split()[0] == "deny"
    assert f"/etc/passwd is outside the workspace {workspace.resolve()}" in result.stdout
    assert "(/etc/passwd)" not in result.stdout  # the path once, not twice
