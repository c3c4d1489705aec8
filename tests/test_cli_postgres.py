"""Every command on PostgreSQL (`--db postgresql://...`), with the password never shown."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import agentctl as run_agentctl

from agentctl.store import StoreError, open_store

RECIPE = """version: 1
name: gated
steps:
  - id: write
    run: echo changed > file.txt
  - id: gate
    approval: Go on?
  - id: after
    run: echo after >> file.txt
"""


def agentctl(args, *, cwd: Path, url: str):
    # The URL in --db (not the environment): what a user types.
    return run_agentctl(["--db", url, *args], cwd / "unused.db", cwd)


@pytest.mark.slow
@pytest.mark.e2e
def test_every_command_runs_on_postgres_and_never_shows_the_password(tmp_path, postgres_url):
    password = urlsplit(postgres_url).password
    assert password
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "file.txt").write_text("before\n")
    (tmp_path / "recipe.yaml").write_text(RECIPE)
    seen: list[str] = []

    def run(*args: str, code: int = 0):
        done = agentctl(list(args), cwd=tmp_path, url=postgres_url)
        seen.append(done.stdout + done.stderr)
        assert done.returncode == code, (args, done.stdout, done.stderr)
        return done

    parked = run("run", "recipe.yaml", "--workspace", str(ws), "--non-interactive", "--json",
                 code=3)  # fmt: skip
    job = json.loads(parked.stdout)
    assert job["state"] == "awaiting_approval" and job["pending_approvals"]
    assert [j["id"] for j in json.loads(run("jobs", "--json").stdout)] == [job["id"]]
    assert "awaiting_approval" in run("status", job["id"]).stdout
    run("approve", "last")
    assert json.loads(run("resume", "last", "--json").stdout)["state"] == "succeeded"
    types = [json.loads(line)["type"] for line in run("log", "last", "--json").stdout.splitlines()]
    assert types[0] == "job_created" and types[-1] == "job_succeeded"
    assert "after" in run("log", "last", "--follow").stdout  # ends: the job has finished
    assert "+changed" in run("diff", "last").stdout
    run("rollback", "last", "--yes")
    assert (ws / "file.txt").read_text() == "before\n"
    queued = json.loads(run("run", "recipe.yaml", "--workspace", str(ws), "--queue",
                            "--json").stdout)  # fmt: skip
    assert queued["state"] == "queued"
    run("cancel", queued["id"])
    run("deny", queued["id"], code=2)  # cancelled: nothing to decide
    assert "deleted 2 jobs" in run("prune", "--older-than", "0s", "--yes").stdout
    assert json.loads(run("jobs", "--json").stdout) == []
    wrong = postgres_url.replace(f":{password}@", ":Wrong-Secret-1@")
    refused = agentctl(["jobs"], cwd=tmp_path, url=wrong)
    said = refused.stderr.splitlines()
    assert refused.returncode == 1 and said[0].startswith("warning: ")  # a password in argv
    assert said[1].startswith("error: cannot connect")
    assert "Wrong-Secret-1" not in refused.stdout + refused.stderr and "hint:" in refused.stderr
    assert all(password not in text for text in seen)


def test_a_postgres_url_without_psycopg_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the extra was not installed
    with pytest.raises(StoreError) as caught:
        open_store("postgresql://someone:hunter2@127.0.0.1:1/db")
    assert caught.value.exit_code == 2
    assert "agentctl-jobs[postgres]" in caught.value.hint and "hunter2" not in str(caught.value)
