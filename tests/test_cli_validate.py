"""`agentctl validate`: every problem of a file, not only the first; `--json`; linear time."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import invoke

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
    assert result.exit_code == 2
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
    assert result.exit_code == 2
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

    from agentctl.recipe.schema import load_recipe_text

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
