"""Values in `run:` and check commands are shell-quoted for where they stand; `| raw` opts out
(agentctl.recipe.templates, and the runner that renders run steps)."""

from __future__ import annotations

import subprocess

import pytest
from test_engine import deps, make_job

from agentctl.engine.run import run_job
from agentctl.recipe.templates import render_template
from agentctl.store.sqlite import SQLiteStore

ATTACKS = [
    "hi; touch pwned",
    "$(touch pwned)",
    "`touch pwned`",
    "a' ; touch pwned ; '",
    'a" ; touch pwned ; "',
    "a\\",
    "x\n touch pwned",
    "--help && touch pwned #",
]


def echo(command: str, cwd) -> str:
    return subprocess.run(
        ["sh", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=10
    ).stdout


@pytest.mark.parametrize("value", ATTACKS)
@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("printf %s {{ params.msg }}", "{}"),
        ("printf %s '<{{ params.msg }}>'", "<{}>"),
        ('printf %s "<{{ params.msg }}>"', "<{}>"),
        ("printf %s x{{ params.msg }}x", "x{}x"),
    ],
)
def test_a_value_is_one_literal_piece_of_the_command(tmp_path, value, template, expected):
    command = render_template(template, {"params": {"msg": value}}, shell=True)
    assert echo(command, tmp_path) == expected.format(value)
    assert not (tmp_path / "pwned").exists()


def test_raw_opts_out_and_q_is_not_quoted_twice(tmp_path):
    context = {"params": {"cmd": "printf '%s' one; printf two", "word": "a b"}}
    assert echo(render_template("{{ params.cmd | raw }}", context, shell=True), tmp_path) == (
        "onetwo"
    )
    assert render_template("echo {{ params.word | q }}", context, shell=True) == "echo 'a b'"


def test_other_templates_are_not_quoted():
    text = render_template("Fix {{ params.msg }}", {"params": {"msg": "a b"}})
    assert text == "Fix a b"


def test_a_param_cannot_inject_a_command_into_a_run_step(tmp_path, workspace):
    store = SQLiteStore(tmp_path / "engine.db")
    recipe = """
version: 1
name: quoted
params: {msg: {type: string}}
steps:
  - id: say
    run: "echo {{ params.msg }}"
  - id: again
    run: "echo '{{ steps.say.output | trim }}' > said.txt"
"""
    job = make_job(store, workspace, recipe, params=["msg=hi; touch pwned"])
    assert run_job(job, deps(store)).state == "succeeded"
    assert not (workspace / "pwned").exists()
    assert (workspace / "said.txt").read_text() == "hi; touch pwned\n"
