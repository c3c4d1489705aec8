"""The policy corpus (tests/security/commands.txt): hundreds of commands as developers type
them, and commands that reach out or persist, each with the decision it must get under each
shipped policy. Nothing is run: every command is only parsed and decided."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentctl.policy.rules import PolicySet, load_policy

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "security" / "commands.txt"
POLICIES = ("dev-laptop", "ci-safe", "read-only")


def load_corpus(path: Path = CORPUS) -> tuple[list[str], dict[str, list[tuple[str, ...]]]]:
    """(workspace files, {section: [(command, dev-laptop, ci-safe, read-only)]})."""
    files: list[str] = []
    sections: dict[str, list[tuple[str, ...]]] = {}
    section = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("files:"):
            files = line.split(":", 1)[1].split()
        elif line.startswith("["):
            section = line.strip("[]")
            sections[section] = []
        else:
            assert section is not None, line
            decisions, command = line.split(" | ", 1)
            sections[section].append((command.replace("\\n", "\n"), *decisions.split()))
    return files, sections


@pytest.fixture(scope="module")
def corpus_workspace(tmp_path_factory) -> Path:
    workspace = tmp_path_factory.mktemp("corpus") / "ws"
    for name in load_corpus()[0]:
        (workspace / name).parent.mkdir(parents=True, exist_ok=True)
        (workspace / name).write_text("x\n")
    return workspace


@functools.cache
def shipped(name: str) -> PolicySet:
    return PolicySet([load_policy(ROOT / "policies" / f"{name}.yaml")])


def mismatches(section: str, workspace: Path) -> list[str]:
    policies = {n: shipped(n) for n in POLICIES}
    out = []
    for command, *expected in load_corpus()[1][section]:
        for name, want in zip(POLICIES, expected):
            got = policies[name].decide("shell", {"command": command}, workspace=workspace)
            if got.decision != want:
                out.append(f"{name}: {command!r} expected {want}, got {got.decision}: {got.reason}")
    return out


def test_the_corpus_is_big_and_reach_out_is_never_expected_allowed():
    _, sections = load_corpus()
    assert len(sections["everyday"]) >= 300
    assert len(sections["reach-out"]) >= 100
    allowed = [c for c, *d in sections["reach-out"] if "allow" in d]
    assert allowed == []
    for commands in sections.values():
        assert all(set(d) <= {"allow", "ask", "deny"} for _, *d in commands)


@pytest.mark.parametrize("section", ["everyday", "reach-out"])
def test_every_command_gets_its_decision_under_every_shipped_policy(section, corpus_workspace):
    assert mismatches(section, corpus_workspace) == []


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_an_allowed_everyday_command_never_carries_a_reach_out_one(data, corpus_workspace):
    """Under each shipped policy: an allowed command, any separator, then a reach-out command
    (or the other way round) is never allowed."""
    _, sections = load_corpus()
    column = data.draw(st.sampled_from(range(len(POLICIES))))
    allowed = [c for c, *d in sections["everyday"] if d[column] == "allow" and "\n" not in c]
    first = data.draw(st.sampled_from(allowed))
    second = data.draw(st.sampled_from([c for c, *_ in sections["reach-out"]]))
    separator = data.draw(st.sampled_from([";", "&&", "||", "|", "\n", "&", " ; ", " | "]))
    if data.draw(st.booleans()):
        first, second = second, first
    policy = shipped(POLICIES[column])
    got = policy.decide(
        "shell", {"command": first + separator + second}, workspace=corpus_workspace
    )
    assert got.decision != "allow", (first, separator, second, got.reason)
