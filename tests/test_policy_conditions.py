"""Rule conditions (agentctl.policy.conditions): each kind answers for the subjects it is
about, and a rule decides the most specific subject it names."""

from __future__ import annotations

from dataclasses import replace

from agentctl.policy.conditions import (
    CONDITION_KINDS,
    CommandCondition,
    HostCondition,
    Names,
    PathCondition,
)
from agentctl.policy.inner import HOLE
from agentctl.policy.rules import Rule, load_policy_text
from agentctl.policy.shellwords import parse_command
from agentctl.policy.touches import Part, resolve_path


def _rule(**keys: object) -> Rule:
    return Rule.model_validate({"id": "r", "decision": "deny", **keys})


def test_every_condition_kind_is_a_rule_key_described_for_editors():
    from agentctl.schemas import build_schema

    rule_schema = build_schema("policy")["$defs"]["Rule"]["properties"]
    for kind in CONDITION_KINDS:
        assert kind.key in Rule.model_fields, kind
        assert rule_schema[kind.key].get("description"), kind.key


def test_a_rule_decides_the_most_specific_subject_it_names():
    assert _rule().check.names is Names.ACTION
    assert _rule(tools=["shell"], commands=["git *"]).check.names is Names.PROGRAM
    assert _rule(tools=["http_get"], hosts=["example.com"]).check.names is Names.HOST
    both = _rule(tools=["shell"], commands=["cp *"], paths=["build/**"]).check
    assert both.names is Names.PATH
    assert both.condition(CommandCondition) is not None
    assert both.condition(HostCondition) is None


def test_each_condition_answers_only_for_its_subjects(tmp_path):
    root = str(tmp_path)
    command = parse_command("cp $X build/a").commands[0]
    part = Part("cp $X build/a", command, host=None)
    commands = _rule(tools=["shell"], commands=["cp *"]).check.condition(CommandCondition)
    paths = _rule(paths=["build/**"]).check.condition(PathCondition)
    hosts = _rule(tools=["http_get"], hosts=["*.example.com"]).check.condition(HostCondition)
    assert commands is not None and paths is not None and hosts is not None
    assert commands.fit(part, Names.HOST, None) is None
    assert paths.fit(part, Names.PROGRAM, None) is None
    fit = commands.fit(part, Names.PROGRAM, None)
    assert fit is not None and fit.must
    inside = resolve_path("build/a", root)
    fit = paths.fit(part, Names.PATH, inside)
    assert fit is not None and fit.must
    # A path with an unknown part could be one the glob names, but need not be.
    word = f"build/{HOLE}"
    unknown = replace(resolve_path(".", root), raw=word, unknown=word)
    fit = paths.fit(part, Names.PATH, unknown)
    assert fit is not None and fit.could and not fit.must
    elsewhere = f"src/{HOLE}"
    fit = paths.fit(part, Names.PATH, replace(unknown, raw=elsewhere, unknown=elsewhere))
    assert fit is not None and not fit.could
    host_part = Part("https://api.example.com/x", host="api.example.com")
    fit = hosts.fit(host_part, Names.HOST, None)
    assert fit is not None and fit.must


def test_a_condition_problem_names_the_entry():
    import pytest

    from agentctl.errors import RecipeError

    with pytest.raises(RecipeError, match="commands: only applies to the shell tool"):
        load_policy_text(
            "version: 1\nname: p\nrules:\n  - {id: r, tools: [read_file], commands: ['x'],"
            " decision: deny}\n",
            "p.yaml",
        )
