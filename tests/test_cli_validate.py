"""`agentctl validate`: every problem of a file, not only the first; `--json`; linear time."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import invoke, write

# Four independent problems, on lines 5, 9, 10 and 13.
MANY_PROBLEMS = """\
version: 1
name: many
steps:
  - id: a
    run: echo {{ params.nope }}
  - id: b
    agent:
      instructions: Read.
      tools: [read_file, teleport]
  - id: a
    run: echo again
  - id: c
    run: echo {{ steps.later.output }}
  - id: later
    run: echo ok
"""


def test_validate_reports_every_problem_of_a_file_in_file_order(tmp_path):
    path = tmp_path / "many.yaml"
    path.write_text(MANY_PROBLEMS)
    result = invoke("validate", str(path))
    assert result.exit_code == 1  # findings; 2 is kept for a bad invocation
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 4, result.stderr
    lines = [int(line.split(":")[2]) for line in errors]
    assert lines == sorted(lines) == [5, 9, 10, 13]
    assert 'unknown param "nope"' in errors[0]
    assert 'unknown tool "teleport"' in errors[1]
    assert 'duplicate step id "a"' in errors[2]
    assert 'step "later" has not run yet' in errors[3]
    assert result.stderr.count("hint: ") == 4


def test_run_still_names_the_first_problem(tmp_path, workspace):
    path = tmp_path / "many.yaml"
    path.write_text(MANY_PROBLEMS)
    result = invoke("run", str(path), "--workspace", str(workspace))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}:5:")


def test_validate_json(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("version: 1\nname: good\nsteps:\n  - id: a\n    run: echo hi\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text(MANY_PROBLEMS)
    policy = Path(__file__).parent.parent / "policies" / "read-only.yaml"
    result = invoke("validate", str(good), str(bad), str(policy), "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    by_file = {Path(entry["file"]).name: entry for entry in report["files"]}
    assert by_file["good.yaml"] == {
        "file": str(good), "kind": "recipe", "name": "good", "steps": 1, "errors": [], "ok": True,
    }  # fmt: skip
    assert by_file["read-only.yaml"]["ok"] and by_file["read-only.yaml"]["kind"] == "policy"
    errors = by_file["bad.yaml"]["errors"]
    assert [e["line"] for e in errors] == [5, 9, 10, 13]
    assert all(e["file"] == str(bad) and e["hint"] and e["column"] for e in errors)
    assert result.stderr == ""


def _lines_run_by_agentctl(steps: int) -> int:
    """How many lines of agentctl's own code run to load a recipe of `steps` steps, each
    using the previous step's output: a count, the same on every machine."""
    import os
    import sys

    from agentctl.recipe.load import load_recipe_text

    body = "".join(
        f"  - id: s{i}\n    run: echo {{{{ steps.s{i - 1}.output }}}}\n" for i in range(1, steps)
    )
    text = f"version: 1\nname: long\nsteps:\n  - id: s0\n    run: echo 0\n{body}"
    package = os.sep + "agentctl" + os.sep
    count = 0

    def local(frame, event, arg):
        nonlocal count
        if event == "line":
            count += 1
        return local

    def calls(frame, event, arg):
        return local if package in frame.f_code.co_filename else None

    sys.settrace(calls)
    try:
        load_recipe_text(text, "long.yaml")
    finally:
        sys.settrace(None)
    return count


def test_a_long_recipe_validates_in_linear_time():
    """Lines executed, not seconds (bench/validate.py has the timings): twice the steps must
    cost about twice the work. The quadratic checker of before read every earlier step id
    for every step (about 3.5x here)."""
    small, large = _lines_run_by_agentctl(200), _lines_run_by_agentctl(400)
    assert large / small < 2.5, (small, large)


# A new user's first recipe (issue 24): a typo'd key, a tool list at the top, a mistyped tool,
# a bad limit and a typo'd limit key. Four problems; pydantic alone stops at the first.
FIRST_TRY = """\
version: 1
name: typo
instructons: do the thing
tools: [read_file, list_flies]
limits: {max_turns: -3, timout: 10m}
"""


def test_validate_finds_every_problem_behind_a_typo_with_did_you_mean(tmp_path):
    path = write(tmp_path / "first.yaml", FIRST_TRY)
    result = invoke("validate", str(path))
    assert result.exit_code == 1, result.stderr
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert [e.split(":")[2:4] for e in errors] == [
        ["3", "1"],
        ["4", "20"],
        ["5", "21"],
        ["5", "25"],
    ]
    assert 'unknown key "instructons"' in errors[0]
    assert 'unknown tool "list_flies"' in errors[1]
    assert "max_turns" in errors[2] and "timout" in errors[3]
    hints = [line for line in lines if line.startswith("hint: ")]
    assert hints[0] == "hint: did you mean `instructions`?"
    assert hints[1] == "hint: did you mean `list_files`?"
    assert hints[3] == "hint: did you mean `timeout`?"
    assert "a recipe needs steps" not in result.stderr  # a consequence of the typo, not said


def test_validate_finds_at_least_what_the_json_schema_finds(tmp_path):
    """The published schema (what editors and check-jsonschema use) and validate agree: every
    place the schema rejects, validate names too."""
    import jsonschema
    import yaml

    schema = json.loads(invoke("schema", "recipe").stdout)
    text = FIRST_TRY.replace("tools: [", "agent_tools: [")  # the schema's name for the list
    named = set()
    for error in jsonschema.Draft202012Validator(schema).iter_errors(yaml.safe_load(text)):
        if error.validator == "additionalProperties":
            named.add(error.message.split("'")[1])
        elif error.absolute_path:
            named.add(str(error.absolute_path[-1]))
    assert named == {"instructons", "timout", "max_turns"}
    said = invoke("validate", str(write(tmp_path / "first.yaml", text))).stderr
    for name in named:
        assert name in said, (name, said)


def test_every_unknown_name_in_a_tool_list_is_named(tmp_path):
    path = write(
        tmp_path / "r.yaml",
        "version: 1\nname: r\nsteps:\n  - id: a\n    agent:\n      instructions: hi\n"
        "      tools: [read_file, list_flies, shel, gitt.status]\n",
    )
    result = invoke("validate", str(path))
    assert result.exit_code == 1
    assert 'unknown tool "list_flies"' in result.stderr and 'unknown tool "shel"' in result.stderr
    assert "did you mean `shell`?" in result.stderr
    assert 'names MCP server "gitt"' in result.stderr


def test_template_names_get_a_did_you_mean(tmp_path):
    path = write(
        tmp_path / "r.yaml",
        "version: 1\nname: r\nparams: {target: {type: string}}\nsteps:\n"
        "  - id: a\n    run: echo {{ parms.target }}\n  - id: b\n    run: echo {{ params.targte }}\n",
    )
    result = invoke("validate", str(path))
    assert result.exit_code == 1
    assert "did you mean `params`?" in result.stderr
    assert "did you mean `target`?" in result.stderr


def test_validate_exits_2_for_a_bad_invocation(tmp_path):
    good = write(tmp_path / "good.yaml", "version: 1\nname: g\nsteps:\n  - {id: a, run: ls}\n")
    result = invoke("validate", str(good), str(tmp_path / "missing.yaml"))
    assert result.exit_code == 2
    assert "missing.yaml: not found" in result.stderr
    assert invoke("validate", str(tmp_path)).exit_code == 2  # a folder
    assert invoke("validate").exit_code == 2  # no file at all


def test_one_agent_recipe_takes_a_top_level_tool_list(tmp_path):
    path = write(
        tmp_path / "one.yaml",
        "version: 1\nname: one\ninstructions: list the files\ntools: [list_files]\n",
    )
    result = invoke("validate", str(path))
    assert result.exit_code == 0, result.stderr
    from agentctl.recipe.load import load_recipe

    step = load_recipe(path).recipe.steps[0]
    assert step.agent is not None and step.agent.tools == ["list_files"]
    # agent_tools: still works, and a list beside steps: says where it belongs
    old = write(
        tmp_path / "old.yaml", "version: 1\nname: o\ninstructions: x\nagent_tools: [shell]\n"
    )
    assert invoke("validate", str(old)).exit_code == 0
    both = write(
        tmp_path / "both.yaml",
        "version: 1\nname: b\ntools: [list_files]\nsteps:\n  - {id: a, run: ls}\n",
    )
    result = invoke("validate", str(both))
    assert result.exit_code == 1
    assert f"{both}:3:8: tools: top-level tools: declares custom tools" in result.stderr
    assert "agent: {tools: [...]}" in result.stderr
