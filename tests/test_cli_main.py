"""`agentctl` as a program (agentctl.cli.main): it builds only the command the line names."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import agentctl.cli as cli


@pytest.fixture
def restored_app():
    commands, groups = list(cli.app.registered_commands), list(cli.app.registered_groups)
    yield cli.app
    cli.app.registered_commands[:] = commands
    cli.app.registered_groups[:] = groups


@pytest.mark.parametrize(
    ("args", "kept"),
    [
        (["run", "r.yaml"], ["run"]),
        (["--db", "x.db", "--debug", "jobs"], ["jobs"]),
        (["--db=x.db", "policy", "explain"], ["policy"]),
        (["worker-run", "ID"], ["worker-run"]),
        (["--help"], None),
        (["--version"], None),
        (["frobnicate"], None),
        ([], None),
        (["--db"], None),
    ],
)
def test_only_the_named_command_is_built(restored_app, args, kept):
    everything = sorted(
        cli._command_name(c) for c in [*cli.app.registered_commands, *cli.app.registered_groups]
    )
    cli._keep_only_the_command_asked(args)
    left = sorted(
        cli._command_name(c) for c in [*cli.app.registered_commands, *cli.app.registered_groups]
    )
    assert left == (kept if kept is not None else everything)


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [
        ["run", "--help"],
        ["policy", "--help"],
        ["--help"],
        ["jbos"],  # no such command: the suggestion needs every name
        ["jobs", "--bogus"],
        ["--db", "DB", "jobs", "--json"],
    ],
)
def test_the_program_answers_as_the_whole_app_does(tmp_path, args):
    db = str(tmp_path / "a.db")
    args = [db if a == "DB" else a for a in args]
    env = dict(os.environ, COLUMNS="100", TERM="dumb", NO_COLOR="1")
    env.pop("AGENTCTL_DB", None)
    program = subprocess.run(
        [sys.executable, "-m", "agentctl", *args], capture_output=True, text=True, env=env
    )
    whole = CliRunner().invoke(cli.app, args, env={"COLUMNS": "100", "TERM": "dumb"})
    assert program.returncode == whole.exit_code
    assert program.stdout == whole.stdout
    assert program.stderr == whole.stderr
