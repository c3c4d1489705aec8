"""A warm worker parses each distinct recipe once; its job children find it parsed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import agentctl.policy.shellwords as shellwords
import agentctl.recipe.load as recipe_load
import agentctl.recipe.templates as templates
from agentctl.engine.jobs import create_job
from agentctl.engine.recipe_memo import RecipeMemo
from agentctl.engine.worker import WorkerOptions, forking_worker_for_store
from agentctl.errors import RecipeError
from agentctl.store import open_store

RECIPE = "version: 1\nname: q\nsteps:\n  - {id: a, run: 'echo ran >> out.txt'}\n"


def _queue(store, workspace: Path, text: str = RECIPE) -> str:
    loaded = recipe_load.load_recipe_text(text, "<t>")
    return create_job(
        store, loaded, params={}, workspace=workspace, options={}, queue="default",
        shared_workspace=True,
    )  # fmt: skip


def test_a_memo_parses_each_text_once_and_a_changed_text_again():
    memo = RecipeMemo(size=2)
    first = memo.load(RECIPE, "<job>")
    assert memo.load(RECIPE, "<job>") is first
    changed = memo.load(RECIPE.replace("echo ran", "echo other"), "<job>")
    assert changed is not first
    assert changed.recipe.steps[0].run == "echo other >> out.txt"
    assert memo.load(RECIPE, "<job>") is first  # still kept: two fit
    # a name or folder of its own is another entry (errors and `policy:` depend on them)
    elsewhere = memo.load(RECIPE, "/srv/r.yaml", Path("/srv"))
    assert elsewhere is not first and elsewhere.base_dir == Path("/srv")
    assert len(memo.parsed) == 2  # the least recently used one went
    assert memo.load(RECIPE.replace("echo ran", "echo other"), "<job>") is not changed


def test_a_memo_keeps_no_recipe_that_fails():
    memo = RecipeMemo()
    for _ in range(2):
        with pytest.raises(RecipeError):
            memo.load("version: 1\nname: q\nsteps: 3\n", "<job>")
    assert not memo.parsed


def test_a_warm_worker_parses_a_recipe_once_for_all_its_jobs(tmp_path, workspace, monkeypatch):
    """The worker parsed each job's recipe (to know whether it calls a model), and the job's
    child parsed it again: twice per job. Now once per distinct recipe text, in the worker."""
    parses = tmp_path / "parses"
    parse = recipe_load.load_recipe_text

    def counted(text: str, filename: str, base_dir: Path | None = None):
        with parses.open("a") as out:  # (children are forked: they write it too)
            out.write(text.splitlines()[-1] + "\n")
        return parse(text, filename, base_dir)

    store = open_store(tmp_path / "w.db")
    other = RECIPE.replace("echo ran", "echo other")
    jobs = [_queue(store, workspace) for _ in range(3)] + [_queue(store, workspace, other)]
    monkeypatch.setattr(recipe_load, "load_recipe_text", counted)
    worker = forking_worker_for_store(store, WorkerOptions(once=True), on_note=lambda _: None)
    report = worker.run()
    assert [report.states[job] for job in jobs] == ["succeeded"] * 4
    assert (workspace / "out.txt").read_text().split() == ["ran"] * 3 + ["other"]
    assert sorted(parses.read_text().splitlines()) == sorted(
        [RECIPE.splitlines()[-1], other.splitlines()[-1]]
    )
    store.close()


def test_a_warm_workers_job_child_finds_its_literal_command_parsed_and_compiled(
    tmp_path, workspace, monkeypatch
):
    """Each job's child compiled its `run:` command as a template and parsed it for the policy
    (bashlex), the same way every time (~3 ms of its ~20 ms of CPU): the worker does both
    once per recipe, before it forks."""
    seen = tmp_path / "seen"
    parse, compile_shell = shellwords._parse, templates._SHELL_ENV.from_string

    def noted(what: str, call, *args):
        with seen.open("a") as out:  # (children are forked: they write it too)
            out.write(f"{os.getpid()} {what}\n")
        return call(*args)

    store = open_store(tmp_path / "w.db")
    jobs = [_queue(store, workspace) for _ in range(2)]
    shellwords._parse_kept.cache_clear()  # (earlier tests of this process kept them)
    templates._compile_shell.cache_clear()
    monkeypatch.setattr(shellwords, "_parse", lambda *a: noted("parse", parse, *a))
    monkeypatch.setattr(
        templates._SHELL_ENV, "from_string", lambda *a: noted("compile", compile_shell, *a)
    )
    worker = forking_worker_for_store(store, WorkerOptions(once=True), on_note=lambda _: None)
    report = worker.run()
    assert [report.states[job] for job in jobs] == ["succeeded"] * 2
    lines = seen.read_text().split("\n") if seen.exists() else []
    in_children = [line for line in lines if line and not line.startswith(f"{os.getpid()} ")]
    assert in_children == []
    assert f"{os.getpid()} parse" in lines and f"{os.getpid()} compile" in lines
    store.close()


def test_a_parsed_command_handed_out_twice_is_not_shared():
    first = shellwords.parse_command("echo hi >> out.txt")
    first.commands.clear()
    again = shellwords.parse_command("echo hi >> out.txt")
    assert [c.name for c in again.commands] == ["echo"]
    long = "echo " + "a" * (shellwords.CACHED_COMMAND_CHARS + 1)
    assert shellwords.parse_command(long).commands[0].name == "echo"
