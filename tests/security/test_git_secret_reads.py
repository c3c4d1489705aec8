"""Reads through git are reads of the paths they name (issue 21, case 3): `git show
HEAD:.env | cut -c1-18`, then `cut -c19-60`, gave the model a committed .env in two halves
under every shipped policy. Each form below names a secret file and is denied, like `cat .env`;
the same forms on an ordinary file keep their old decision."""

from __future__ import annotations

from pathlib import Path

import pytest

import agentctl
from agentctl.policy.rules import PolicySet, load_policy

# The shipped policies, from the package (a copy of the tests without the repository's
# policies/ link still finds them).
POLICIES = sorted((Path(agentctl.__file__).parent / "shipped" / "policies").glob("*.yaml"))
assert POLICIES, "the shipped policies are missing"

SECRET_READS = [
    "git show HEAD:.env | cut -c1-18",
    "git show HEAD:.env | cut -c19-60",
    "git show HEAD~1:config/.env.production",
    "git show :.env",
    "git show :0:.env",
    "git cat-file -p HEAD:.env",
    "git cat-file blob main:.env",
    "git log -p -- .env",
    "git log -L1,3:.env",
    "git log -L 1,3:.env",
    "git grep PASS HEAD -- .env",
    "git grep -e PASS HEAD:.env",
    "git diff HEAD~1 -- .env",
    "git diff HEAD~1:.env HEAD:README.md",
    "git archive HEAD .env",
    "git -C sub show HEAD:deploy/id_rsa",
    "git --no-pager show HEAD:certs/server.key",
]
ORDINARY_READS = [
    "git show HEAD:README.md",
    "git log -p -- README.md",
    "git diff HEAD~1 -- README.md",
]


def _policy(path: Path) -> PolicySet:
    return PolicySet([load_policy(path)])


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.stem)
@pytest.mark.parametrize("command", SECRET_READS)
def test_git_reads_of_a_secret_file_are_denied(policy, command, workspace):
    decision = _policy(policy).decide("shell", {"command": command}, workspace=workspace)
    assert decision.decision == "deny", (command, decision.rules)
    assert any(r["id"] == "secret-file" for r in decision.rule_objects)


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.stem)
@pytest.mark.parametrize("command", ORDINARY_READS)
def test_git_reads_of_ordinary_files_keep_their_decision(policy, command, workspace):
    (workspace / "README.md").write_text("hi\n")
    decision = _policy(policy).decide("shell", {"command": command}, workspace=workspace)
    assert not any(r["id"] == "secret-file" for r in decision.rule_objects), decision.rules


def test_a_remote_url_is_not_taken_for_a_path(workspace):
    policy = _policy(POLICIES[0])
    for command in ("git clone https://example.com/x.git", "git log --format=%h:%s -3"):
        decision = policy.decide("shell", {"command": command}, workspace=workspace)
        assert not any(r["id"] == "secret-file" for r in decision.rule_objects), command
