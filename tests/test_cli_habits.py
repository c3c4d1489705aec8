"""Small CLI habits (issue 24): `run -`, bare ids from `--detach -q`/`--queue -q`, completion
that completes job ids, states, schema kinds, shells and examples, and `--help` that offers
only what a command uses, with one metavar style."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import agentctl_env, invoke

RECIPE = "version: 1\nname: hello\nsteps:\n  - {id: a, run: echo hi-from-stdin}\n"


def _agentctl_stdin(args, db, cwd, text: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "agentctl", *args],
        env=agentctl_env(db),
        cwd=cwd,
        input=text,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
@pytest.mark.e2e
def test_run_dash_reads_the_recipe_from_stdin(tmp_path, workspace):
    db = tmp_path / "a.db"
    done = _agentctl_stdin(["run", "-", "-q"], db, workspace, RECIPE)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "hi-from-stdin\n"
    listed = json.loads(_agentctl_stdin(["jobs", "--json"], db, workspace, "").stdout)
    assert [job["recipe"] for job in listed] == ["hello"]
    empty = _agentctl_stdin(["run", "-"], db, workspace, "")
    assert empty.returncode == 2 and "read no recipe from stdin" in empty.stderr


@pytest.mark.slow
@pytest.mark.e2e
def test_queue_and_detach_with_quiet_print_the_bare_id(tmp_path, workspace):
    db = tmp_path / "a.db"
    queued = _agentctl_stdin(["run", "-", "--queue", "-q"], db, workspace, RECIPE)
    assert queued.returncode == 0, queued.stderr
    job_id = queued.stdout.strip()
    assert queued.stdout == job_id + "\n" and len(job_id) >= 8 and " " not in job_id
    status = json.loads(_agentctl_stdin(["status", job_id, "--json"], db, workspace, "").stdout)
    assert status["state"] == "queued"
    detached = _agentctl_stdin(["run", "-", "--detach", "-q"], db, workspace, RECIPE)
    assert detached.returncode == 0, detached.stderr
    assert len(detached.stdout.split()) == 1


def _complete(words: str, db, cwd) -> list[str]:
    """What bash's completion of `words` (ending in the word being completed) offers."""
    parts = words.split(" ")
    env = agentctl_env(db, _AGENTCTL_COMPLETE="complete_bash", COMP_WORDS=words)
    env["COMP_CWORD"] = str(len(parts) - 1)
    done = subprocess.run(
        [sys.executable, "-m", "agentctl"], env=env, cwd=cwd, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.mark.slow
@pytest.mark.e2e
def test_completion_completes_job_ids_states_kinds_shells_and_examples(tmp_path, workspace):
    db = tmp_path / "a.db"
    job_id = _agentctl_stdin(["run", "-", "--queue", "-q"], db, workspace, RECIPE).stdout.strip()
    assert _complete("agentctl status ", db, workspace) == ["last", job_id]
    assert _complete(f"agentctl approve {job_id[:3]}", db, workspace) == [job_id]
    assert _complete("agentctl jobs --state a", db, workspace) == ["awaiting_approval"]
    assert _complete("agentctl schema p", db, workspace) == ["policy"]
    assert _complete("agentctl completion ", db, workspace) == ["bash", "zsh", "fish"]
    assert _complete("agentctl init --example t", db, workspace) == ["triage"]
    # no database yet: nothing to offer, and no error text
    assert _complete("agentctl status ", tmp_path / "none.db", workspace) == ["last"]


@pytest.mark.parametrize("command", ["schema", "completion", "init"])
def test_db_is_not_offered_where_it_does_nothing(command):
    shown = invoke(command, "--help").stdout
    assert "--db" not in shown
    assert "--db" in invoke("status", "--help").stdout


def test_metavars_name_what_to_type():
    import re

    for args in (
        ["run"],
        ["jobs"],
        ["worker"],
        ["prune"],
        ["mcp", "tools"],
        ["status"],
        ["validate"],
        ["doctor"],
    ):
        shown = invoke(*args, "--help", terminal_width=200).stdout
        options = [line for line in shown.splitlines() if re.search(r"│\s+(\*\s+)?--", line)]
        assert options, shown
        for line in options:  # a type name where a word should say what to type
            assert not re.search(r"<(str|path|int|float)\b", line), (args, line)
    run_help = invoke("run", "--help", terminal_width=200).stdout
    for metavar in ("RECIPE", "KEY=VALUE", "DIR", "[ROLE=]MODEL", "FILE", "PATH|URL"):
        assert metavar in run_help
