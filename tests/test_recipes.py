"""The recipes in recipes/ validate, and each runs for real from its scripted session."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from conftest import agentctl_env
from recipe_sessions import NOTE, RECIPES, SESSIONS

# Slow and end to end: each test runs the shipped recipes through agentctl.
pytestmark = [pytest.mark.slow, pytest.mark.e2e]

RECIPE_FILES = sorted(RECIPES.glob("*.yaml"))


def test_every_recipe_validates():
    assert RECIPE_FILES, "recipes/ holds no recipe"
    done = subprocess.run(
        [sys.executable, "-m", "agentctl", "validate", *map(str, RECIPE_FILES)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("ok ") == len(RECIPE_FILES)


@pytest.mark.parametrize("name", sorted(SESSIONS))
def test_recipe_replays_its_scripted_session(tmp_path, name):
    session = SESSIONS[name]
    cassette = RECIPES / f"{name}.session.jsonl"
    header = json.loads(cassette.read_text().splitlines()[0])
    assert header["note"] == NOTE  # marked as scripted, never passed off as a real model
    ws = tmp_path / "ws"
    shutil.copytree(RECIPES / "examples" / session["example"], ws)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentctl",
            "run",
            str(RECIPES / f"{name}.yaml"),
            "--workspace",
            str(ws),
            "--replay",
            str(cassette),
            "--json",
        ],
        env=agentctl_env(tmp_path / "a.db"),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert job["state"] == "succeeded"
    assert job["usage"]["model_calls"] == len(session["script"])
    for path, content in session["expect"].items():
        assert (ws / path).exists()
        if content is not None:
            assert (ws / path).read_text() == content
