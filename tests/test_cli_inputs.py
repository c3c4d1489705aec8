"""Input that `run` and `validate` must refuse up front (exit 2, error and hint), and a --db
that is mistyped or not a database."""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import assert_bad_input, invoke

REPO = Path(__file__).resolve().parent.parent
TRIAGE = REPO / "recipes" / "triage-issues.yaml"
SESSION = REPO / "recipes" / "triage-issues.session.jsonl"


def test_validate_names_a_policy_file_that_does_not_exist(tmp_path, workspace):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "version: 1\nname: r\npolicy: ../nope/strict.yaml\nsteps:\n  - {id: a, run: ls}\n"
    )
    result = invoke("validate", str(recipe))
    assert_bad_input(result, f"{recipe}:3:9", "strict.yaml", exit_code=1)
    # `run` refuses it in the same words.
    ran = invoke("run", str(recipe), "--workspace", str(workspace))
    assert_bad_input(ran, f"{recipe}:3:9")


def test_model_for_a_role_the_recipe_does_not_have_is_refused(tmp_path, workspace):
    result = invoke(
        "run", str(TRIAGE), "--workspace", str(workspace), "--model", "nosuchrole=openai/x"
    )
    assert_bad_input(result, "nosuchrole", "default")
    assert json.loads(invoke("jobs", "--json").stdout) == []


def test_model_with_replay_is_refused(workspace):
    result = invoke(
        "run",
        str(TRIAGE),
        "--workspace",
        str(workspace),
        "--replay",
        str(SESSION),
        "--model",
        "openai/gpt-4.1",
    )
    assert_bad_input(result, "--model", "--replay")


def test_record_onto_an_existing_file_is_refused(tmp_path, workspace):
    old = tmp_path / "old.jsonl"
    old.write_text('{"x": 1}\n')
    result = invoke(
        "run",
        str(TRIAGE),
        "--workspace",
        str(workspace),
        "--record",
        str(old),
        "--model",
        "openai/gpt-4.1",
    )
    assert_bad_input(result, str(old), "exists")
    assert old.read_text() == '{"x": 1}\n'


def test_a_db_in_a_folder_that_does_not_exist_is_refused_and_not_made(tmp_path):
    typo = tmp_path / "tpyo" / "agentctl.db"
    for args in (["jobs"], ["status", "last"], ["run", str(TRIAGE)]):
        assert_bad_input(invoke("--db", str(typo), *args), str(typo.parent), "mkdir")
    assert not typo.parent.exists()


def test_read_commands_never_make_a_database(tmp_path):
    db = tmp_path / "fresh.db"
    listed = invoke("--db", str(db), "jobs")
    assert listed.exit_code == 0 and "no jobs yet" in listed.stdout
    assert_bad_input(invoke("--db", str(db), "status", "last"))
    assert not db.exists()


def test_a_file_that_is_not_a_database_is_bad_input(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_bytes(os.urandom(4096))
    assert_bad_input(invoke("--db", str(notes), "jobs"), str(notes))
