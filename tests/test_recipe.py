"""Tests for agentctl.recipe.schema and agentctl.yamlload: schema, error positions, params, templates."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentctl.errors import AgentctlError, RecipeError, UsageError
from agentctl.recipe.load import LoadedRecipe, load_recipe, load_recipe_text
from agentctl.recipe.params import parse_params
from agentctl.recipe.schema import AgentSpec, Recipe, Step, template_fields
from agentctl.recipe.templates import render_template
from agentctl.tools.builtin import BUILTIN_TOOLS
from agentctl.units import parse_duration

EXAMPLE = """\
version: 1
name: fix-failing-test            # required
description: Find and fix one failing test.
params:                            # typed inputs, given as -p KEY=VALUE
  test: {type: string, required: true, description: the failing test's node id}
  attempts: {type: integer, default: 3}
models:                            # named roles; a step picks one by name ("default" if none)
  default:
    model: openai/gpt-4.1-mini     # any litellm model string
    fallbacks: [anthropic/claude-sonnet-4-5]
    temperature: 0
  cheap: {model: openai/my-local, api_base: "http://127.0.0.1:8080/v1", api_key_env: LOCAL_KEY}
policy: ../policies/ci-safe.yaml   # relative to this file
limits: {max_turns: 40, max_cost_usd: 2.0, max_tool_calls: 100, timeout: 30m}
env: [GITHUB_TOKEN]                # environment names templates and tools may use
tools:                             # custom tools, beside the built-ins
  run_tests:
    description: Run the test suite
    command: pytest -x {path}      # {name} placeholders; the tools module shell-quotes args in
    params: {path: {type: string, default: tests}}
steps:
  - id: context
    run: git log -5 --oneline      # a shell command step; its output is steps.context.output
  - id: fix
    agent:                         # a model/tool loop
      model: default
      instructions: |
        Make the test {{ params.test }} pass. Recent commits:
        {{ steps.context.output }}
      tools: [read_file, edit_file, list_files, run_tests]
      max_turns: 20
    check: {run: "pytest -x {{ params.test }}", attempts: 3}   # re-enter the loop until it passes
  - id: confirm
    approval: Commit the fix?      # a human gate
  - id: commit
    run: git commit -am "fix {{ params.test }}"
"""

HEAD = "version: 1\nname: x\n"


def load_error(text: str) -> RecipeError:
    with pytest.raises(RecipeError) as info:
        load_recipe_text(text, "r.yaml")
    return info.value


def assert_at(text: str, line: int, column: int, *fragments: str) -> RecipeError:
    err = load_error(text)
    assert (err.file, err.line, err.column) == ("r.yaml", line, column), str(err)
    assert str(err).startswith(f"r.yaml:{line}:{column}: ")
    for fragment in fragments:
        assert fragment in str(err), str(err)
    assert err.hint
    assert err.exit_code == 2
    return err


# --- loading the contract example ---------------------------------------------------------


def test_full_example_loads(tmp_path: Path) -> None:
    folder = tmp_path / "recipes"
    folder.mkdir()
    path = folder / "fix.yaml"
    path.write_text(EXAMPLE)
    loaded = load_recipe(path)
    r = loaded.recipe
    assert isinstance(loaded, LoadedRecipe)
    assert loaded.path == path and loaded.text == EXAMPLE and loaded.base_dir == folder
    assert loaded.policy_path() == tmp_path / "policies" / "ci-safe.yaml"
    assert r.name == "fix-failing-test" and r.version == 1
    assert r.params["test"].required and r.params["attempts"].default == 3
    assert r.models["default"].fallbacks == ["anthropic/claude-sonnet-4-5"]
    assert r.models["cheap"].api_key_env == "LOCAL_KEY"
    assert r.limits.timeout == 1800.0 and r.limits.max_turns == 40
    assert r.env == ["GITHUB_TOKEN"]
    assert r.tools["run_tests"].params["path"].default == "tests"
    assert [s.id for s in r.steps] == ["context", "fix", "confirm", "commit"]
    assert [s.kind for s in r.steps] == ["run", "agent", "approval", "run"]
    fix = r.steps[1]
    assert fix.agent.tools == ["read_file", "edit_file", "list_files", "run_tests"]
    assert fix.agent.instructions.endswith("{{ steps.context.output }}\n")
    assert fix.check.run == "pytest -x {{ params.test }}" and fix.check.attempts == 3
    assert r.tools_for(fix.agent) == fix.agent.tools
    assert r.tools_for(AgentSpec(instructions="x")) == [*BUILTIN_TOOLS, "run_tests"]
    assert dict(template_fields(fix)) == {
        "agent.instructions": fix.agent.instructions,
        "check.run": fix.check.run,
    }


def test_text_reload_is_identical_and_dump_round_trips(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(EXAMPLE)
    first = load_recipe(tmp_path / "r.yaml")
    again = load_recipe_text(first.text, str(first.path), first.base_dir)
    assert again.recipe == first.recipe and again.policy_path() == first.policy_path()
    assert Recipe.model_validate(first.recipe.model_dump()) == first.recipe


def test_shorthand_becomes_one_agent_step() -> None:
    text = HEAD + (
        "models: {fast: {model: openai/x}}\ninstructions: do {{ params.a }}\n"
        "prompt: go\nmodel: fast\nagent_tools: [read_file]\nparams: {a: {}}\n"
    )
    r = load_recipe_text(text, "r.yaml").recipe
    assert len(r.steps) == 1
    step = r.steps[0]
    assert step.id == "agent" and step.kind == "agent"
    assert step.agent == AgentSpec(
        model="fast", instructions="do {{ params.a }}", prompt="go", tools=["read_file"]
    )
    assert r.instructions is None and "instructions" not in r.model_dump()


def test_shorthand_errors_point_at_what_the_user_wrote() -> None:
    assert_at(
        HEAD + "instructions: hi\nagent_tools: [read_file, nope]\n",
        4,
        26,
        'agent_tools[1]: unknown tool "nope"',
    )
    assert_at(
        HEAD + "instructions: |\n  ok\n  {{ params.zz }}\n",
        5,
        3,
        'instructions: unknown param "zz"',
    )
    assert_at(
        HEAD + "steps: [{id: a, run: ls}]\ninstructions: hi\n",
        4,
        1,
        "instructions:",
        "cannot be used with steps",
    )
    assert_at(HEAD + "description: nothing to do\n", 1, 1, "needs steps:")


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(RecipeError) as info:
        load_recipe(tmp_path / "nope.yaml")
    assert "not found" in str(info.value) and info.value.hint
    with pytest.raises(RecipeError) as info:
        load_recipe(tmp_path)
    assert "directory" in str(info.value)
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"version: 1\nname: \xff\n")
    with pytest.raises(RecipeError, match="UTF-8"):
        load_recipe(bad)


# --- errors name the line and column --------------------------------------------------------

STEP = "steps:\n  - id: a\n    run: ls\n"


def test_duplicate_key() -> None:
    assert_at(HEAD + "name: y\n" + STEP, 3, 1, 'duplicate key "name"', "line 2")
    assert_at(HEAD + "limits:\n  max_turns: 1\n  max_turns: 2\n" + STEP, 5, 3, "max_turns")


def test_unknown_key_lists_allowed_keys() -> None:
    err = assert_at(
        HEAD + "steps:\n  - id: a\n    runn: ls\n",
        5,
        5,
        'steps[0].runn: unknown key "runn"',
        "allowed keys: id, run, agent",
    )
    assert "`run`" in err.hint


def test_wrong_type() -> None:
    assert_at(HEAD + "limits:\n  max_turns: lots\n" + STEP, 4, 14, "limits.max_turns", "integer")
    assert_at(HEAD + "limits: {max_turns: 0}\n" + STEP, 3, 21, "greater than 0")
    assert_at(HEAD + "description: 2024-01-01\n" + STEP, 3, 14, "description", "string")


def test_missing_required_field() -> None:
    assert_at("version: 1\n" + STEP, 1, 1, 'missing required key "name"')
    assert_at(
        HEAD + "tools:\n  t1:\n    description: d\n" + STEP,
        4,
        3,
        'tools.t1: missing required key "command"',
    )
    assert_at(HEAD + "steps:\n  - run: ls\n", 4, 5, 'steps[0]: missing required key "id"')


def test_bad_and_duplicate_step_ids() -> None:
    assert_at(HEAD + "steps:\n  - id: 1a\n    run: ls\n", 4, 9, "steps[0].id", '"1a"')
    assert_at(HEAD + STEP + "  - id: a\n    run: pwd\n", 6, 9, 'steps[1].id: duplicate step id "a"')


def test_unknown_tool_and_role() -> None:
    agent = "steps:\n  - id: a\n    agent:\n      instructions: hi\n"
    assert_at(
        HEAD + agent + "      tools: [read_file, edit]\n",
        7,
        26,
        'steps[0].agent.tools[1]: unknown tool "edit"; known: read_file',
    )
    assert_at(
        HEAD + agent + "      model: fast\n",
        7,
        14,
        'steps[0].agent.model: unknown model role "fast"',
    )


def test_step_kind_rules() -> None:
    assert_at(HEAD + STEP + "    check: {run: ls}\n", 6, 5, "steps[0].check", "agent step")
    assert_at(
        HEAD + STEP + "    agent: {instructions: hi}\n", 6, 5, "exactly one of", "run and agent"
    )
    assert_at(HEAD + "steps:\n  - id: a\n", 4, 5, "exactly one of", "none of them")


def test_custom_tool_rules() -> None:
    assert_at(
        HEAD + "tools:\n  t1:\n    command: echo {pth}\n    params: {path: {}}\n" + STEP,
        5,
        14,
        "tools.t1.command: placeholder {pth} is not a declared param",
    )
    assert_at(HEAD + "tools:\n  shell: {command: ls}\n" + STEP, 4, 3, "built-in")


def test_param_default_must_match_type() -> None:
    assert_at(
        HEAD + "params:\n  n: {type: integer, default: 3.5}\n" + STEP,
        4,
        31,
        "params.n.default",
        "integer",
    )
    text = HEAD + "params:\n  n: {type: number, default: 2}\n" + STEP
    assert load_recipe_text(text, "r.yaml").recipe.params["n"].default == 2.0


def test_template_errors() -> None:
    assert_at(
        HEAD + "steps:\n  - id: a\n    agent:\n      instructions: |\n        line one\n"
        "        {{ params.x \n",
        8,
        9,
        "steps[0].agent.instructions: template syntax error",
    )
    assert_at(
        HEAD + "params: {test: {}, attempts: {}}\nsteps:\n  - id: a\n    agent:\n"
        "      instructions: |\n        hi\n        fix {{ params.tset }}\n",
        9,
        9,
        'steps[0].agent.instructions: unknown param "tset" in {{ params.tset }}; '
        "params: test, attempts",
    )
    assert_at(
        HEAD + "steps:\n  - id: a\n    run: echo {{ steps.b.output }}\n  - id: b\n    run: ls\n",
        5,
        10,
        'step "b" has not run yet',
    )
    assert_at(
        HEAD + STEP + "  - {id: b, run: 'echo {{ steps[\"zz\"].output }}'}\n",
        6,
        18,
        'unknown step "zz"',
    )
    assert_at(
        HEAD + "env: [A]\nsteps:\n  - id: a\n    run: echo {{ env.B }}\n",
        6,
        10,
        'env "B" is not listed',
    )
    assert_at(HEAD + STEP + "  - {id: b, approval: '{{ foo }}'}\n", 6, 23, 'unknown name "foo"')
    assert_at(HEAD + STEP + "  - {id: b, run: \"{{ ''.__class__ }}\"}\n", 6, 18, "__class__")


def test_templates_accept_valid_references() -> None:
    text = (
        HEAD
        + """env: [TOKEN]
params: {p: {}}
steps:
  - id: first-step
    run: ls
  - id: b
    agent:
      instructions: "{% for l in steps['first-step'].output.splitlines() %}{{ l | q }}{% endfor %}"
      prompt: "{% set t = env.TOKEN %}{{ t }} {{ params.p }} {{ loop_var | default('') }}"
    check: {run: "test -n {{ steps.b.output | q }}"}
"""
    )
    err = load_error(text)  # loop_var is not local: still rejected
    assert 'unknown name "loop_var"' in str(err)
    ok = load_recipe_text(text.replace(" {{ loop_var | default('') }}", ""), "r.yaml")
    assert ok.recipe.steps[1].check.run.startswith("test -n")


def test_yaml_syntax_error_empty_file_and_top_level_list() -> None:
    err = assert_at(HEAD + "steps:\n  - id: a\n   run: [\n", 5, 4, "YAML syntax error")
    assert err.detail.startswith("YAML syntax error")
    assert_at("# only a comment\n", 1, 1, "empty")
    assert_at("\n- a\n- b\n", 2, 1, "top level must be a mapping")


def test_first_error_in_file_order() -> None:
    # pydantic reports limits (declared first) before steps; the file has steps first.
    text = HEAD + "steps:\n  - id: a\n    run: ls\n    bogus: 1\nlimits: {max_turns: x}\n"
    assert_at(text, 6, 5, 'unknown key "bogus"')


def test_alias_bomb_rejected_quickly() -> None:
    text = HEAD + "a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n"
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        text += f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]\n"
    start = time.perf_counter()
    err = load_error(text + STEP)
    assert time.perf_counter() - start < 1
    assert "too many aliases" in str(err) and err.line is not None
    assert "recursive" in str(load_error(HEAD + "x: &a [*a]\n"))


def test_merge_key_works_and_keeps_positions() -> None:
    text = (
        HEAD
        + """models:
  base: &base {model: openai/x, temperature: 0.5}
  other:
    <<: *base
    model: openai/y
steps:
  - {id: a, agent: {model: other, instructions: hi}}
"""
    )
    r = load_recipe_text(text, "r.yaml").recipe
    assert r.models["other"].model == "openai/y" and r.models["other"].temperature == 0.5
    bad = text.replace("temperature: 0.5", "temperature: hot")
    assert_at(bad, 4, 46, "models.base.temperature")
    assert_at(
        text.replace("model: openai/y", "model: openai/y\n    tempreature: 1"),
        8,
        5,
        'unknown key "tempreature"',
    )


# --- params ---------------------------------------------------------------------------------


def params_recipe() -> Recipe:
    text = (
        HEAD
        + """params:
  test: {type: string, required: true}
  attempts: {type: integer, default: 3}
  ratio: {type: number}
  fast: {type: boolean, default: false}
"""
        + STEP
    )
    return load_recipe_text(text, "r.yaml").recipe


def test_parse_params_converts_and_fills_defaults() -> None:
    r = params_recipe()
    assert parse_params(r, ["test=a=b"]) == {
        "test": "a=b",
        "attempts": 3,
        "ratio": None,
        "fast": False,
    }
    got = parse_params(r, ["test=", "attempts=-7", "ratio=2.5", "fast=YES"])
    assert got == {"test": "", "attempts": -7, "ratio": 2.5, "fast": True}
    for raw, value in [("true", True), ("0", False), ("No", False), ("1", True)]:
        assert parse_params(r, ["test=t", f"fast={raw}"])["fast"] is value


@pytest.mark.parametrize(
    "pairs, fragment",
    [
        (["test"], "KEY=VALUE"),
        (["tset=x"], 'unknown param "tset"'),
        (["test=a", "test=b"], "more than once"),
        ([], 'missing required param "test"'),
        (["test=a", "attempts=3.5"], "whole number"),
        (["test=a", "ratio=fast"], "number"),
        (["test=a", "ratio=nan"], "number"),
        (["test=a", "fast=maybe"], "true/false"),
    ],
)
def test_parse_params_errors(pairs: list[str], fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_params(params_recipe(), pairs)
    assert fragment in str(info.value)
    assert info.value.exit_code == 2
    assert info.value.hint == (
        "this recipe takes: -p test=<string> (required), -p attempts="
        "<integer> (default 3), -p ratio=<number> (optional), "
        "-p fast=<boolean> (default false)"
    )


@given(st.integers())
def test_parse_params_integers_round_trip(n: int) -> None:
    assert parse_params(params_recipe(), ["test=x", f"attempts={n}"])["attempts"] == n


# --- templates ------------------------------------------------------------------------------

CTX = {
    "params": {"test": "a b", "items": "I"},
    "steps": {"context": {"output": "log"}},
    "env": {"TOKEN": "tok"},
}


def test_render_template_reads_params_steps_env() -> None:
    out = render_template(
        "{{ params.test | q }} {{ steps.context.output }} {{ env.TOKEN }} "
        "{{ params.items }} {{ steps['context'].output | shell_quote }}",
        CTX,
    )
    assert out == "'a b' log tok I log"
    assert render_template("line\n", {}) == "line\n"


@pytest.mark.parametrize(
    "source, fragment",
    [
        ("{{ params.nope }}", "nope"),
        ("{{ steps.later.output }}", "later"),
        ("{{ x", "syntax"),
        ("{{ 1 / 0 }}", "division"),
        ("{{ ''.__class__.__mro__ }}", "unsafe"),
        ("{{ ().__class__.__base__.__subclasses__() }}", "unsafe"),
        ("{{ 'a' * 100000000 }}", "too large"),
    ],
)
def test_render_template_errors_are_agentctl_errors(source: str, fragment: str) -> None:
    with pytest.raises(AgentctlError) as info:
        render_template(source, CTX, where="steps[0].run")
    assert type(info.value) is AgentctlError and info.value.exit_code == 1
    assert fragment in str(info.value) and "steps[0].run" in str(info.value)


# --- durations and direct construction ------------------------------------------------------


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("90s", 90),
        ("30m", 1800),
        ("1h", 3600),
        ("1h30m", 5400),
        ("2d", 172800),
        ("45", 45),
        (" 1.5h ", 5400),
        ("1d2h3m4s", 93784),
        (12, 12),
        (2.5, 2.5),
    ],
)
def test_parse_duration(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5x", "m30", "30m1h", "1h1h", "-5s", "1 h", True, None])
def test_parse_duration_rejects(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)  # type: ignore[arg-type]


def test_durations_must_be_positive_and_parse_in_models() -> None:
    assert_at(HEAD + "limits: {timeout: 0s}\n" + STEP, 3, 19, "positive")
    assert_at(HEAD + "limits: {timeout: soon}\n" + STEP, 3, 19, 'bad duration "soon"')
    assert Step(id="a", run="ls", timeout="1m").timeout == 60.0


def test_models_validate_when_built_directly() -> None:
    with pytest.raises(ValueError):
        Step(id="a", run="ls", approval="ok?")
    with pytest.raises(ValueError, match="unknown tool"):
        Recipe(
            version=1,
            name="x",
            steps=[Step(id="a", agent=AgentSpec(instructions="hi", tools=["nope"]))],
        )


# --- change tracking: changes and on_failure --------------------------------------------------


def test_changes_and_on_failure_default_to_tracking_everything_and_no_rollback() -> None:
    recipe = load_recipe_text(HEAD + STEP, "r.yaml").recipe
    assert recipe.changes.exclude == []
    assert recipe.changes.max_file_size == 1_000_000
    assert recipe.on_failure is None


def test_changes_and_on_failure_load() -> None:
    text = (
        HEAD + "changes:\n  exclude: ['*.log', build/, '/dist/**']\n  max_file_size: 2MB\n"
        "on_failure: rollback\n" + STEP
    )
    recipe = load_recipe_text(text, "r.yaml").recipe
    assert recipe.changes.exclude == ["*.log", "build/", "/dist/**"]
    assert recipe.changes.max_file_size == 2_000_000
    assert recipe.on_failure == "rollback"


@pytest.mark.parametrize(
    "given, size",
    [
        (1000, 1000),
        ("1000", 1000),
        ("500KB", 500_000),
        ("1MB", 1_000_000),
        ("1mb", 1_000_000),
        ("2MiB", 2 * 2**20),
        ("1.5 KiB", 1536),
        ("3G", 3 * 10**9),
        ("64k", 64_000),
    ],
)
def test_max_file_size_takes_bytes_or_units(given: object, size: int) -> None:
    value = given if isinstance(given, int) else f'"{given}"'
    text = HEAD + f"changes: {{max_file_size: {value}}}\n" + STEP
    assert load_recipe_text(text, "r.yaml").recipe.changes.max_file_size == size


def test_bad_changes_fields_are_errors_at_their_position() -> None:
    assert_at(HEAD + "changes: {max_file_size: 0}\n" + STEP, 3, 26, "positive")
    assert_at(HEAD + "changes: {max_file_size: lots}\n" + STEP, 3, 26, "bad size")
    assert_at(HEAD + "changes: {max_file_size: true}\n" + STEP, 3, 26, "bad size")
    assert_at(HEAD + "changes: {max_file_size: '1.5'}\n" + STEP, 3, 26, "whole")
    assert_at(HEAD + "changes: {exclude: '*.log'}\n" + STEP, 3, 20, "list")
    assert_at(HEAD + "changes: {exclude: ['']}\n" + STEP, 3, 21)
    assert_at(HEAD + "changes: {excludes: []}\n" + STEP, 3, 11, "excludes")
    assert_at(HEAD + "on_failure: retry\n" + STEP, 3, 13, "rollback")
