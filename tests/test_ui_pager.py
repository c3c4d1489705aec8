"""Long output (`diff`, `log`) goes through the person's pager on a terminal only (issue 24)."""

from __future__ import annotations

import io

import pytest
from conftest import agentctl, agentctl_env, write_recipe
from tmux_terminal import TMUX, TmuxTerminal

from agentctl.ui.pager import page, pager_command


@pytest.mark.parametrize(
    ("environ", "terminal", "expected"),
    [
        ({}, True, "less -R"),
        ({"PAGER": "most -s"}, True, "most -s"),
        ({"PAGER": ""}, True, None),
        ({"PAGER": "  "}, True, None),
        ({"PAGER": "cat"}, True, None),
        ({}, False, None),
        ({"PAGER": "most"}, False, None),
    ],
)
def test_the_pager_is_pagers_on_a_terminal_only(environ, terminal, expected):
    assert pager_command(environ, terminal=terminal) == expected


def test_not_a_terminal_is_written_straight_out(monkeypatch):
    monkeypatch.setenv("PAGER", "false")  # would fail loudly if it ran
    out = io.StringIO()
    page("line\n", out)
    assert out.getvalue() == "line\n"


def changed_job(tmp_path, workspace):
    (workspace / "calc.py").write_text("a = 1\n")
    recipe = write_recipe(tmp_path, "  - id: edit\n    run: echo 'a = 2' > calc.py\n")
    db = tmp_path / "a.db"
    ran = agentctl(["run", str(recipe), "--workspace", str(workspace)], db, tmp_path)
    assert ran.returncode == 0, ran.stderr
    return db


@pytest.mark.slow
@pytest.mark.e2e
def test_diff_and_log_page_on_a_terminal_but_never_in_a_pipe_or_for_json(tmp_path, workspace):
    db = changed_job(tmp_path, workspace)
    # In a pipe: the text, and no pager.
    for command in (["diff", "last"], ["log", "last"]):
        piped = agentctl(command, db, tmp_path, PAGER=f"tee {tmp_path / 'piped.txt'}")
        assert piped.returncode == 0 and piped.stdout.strip(), piped.stderr
        assert not (tmp_path / "piped.txt").exists()
    if TMUX is None:
        pytest.skip("tmux is not installed")
    for command, wanted in ((["diff", "last"], "+a = 2"), (["log", "last"], "job succeeded")):
        paged = tmp_path / f"{command[0]}.txt"
        env = agentctl_env(db, PAGER=f"tee {paged}")
        term = TmuxTerminal(command, env, tmp_path, width=100)
        try:
            assert term.finish() == 0, term.screen()
            assert wanted in term.screen()
        finally:
            term.close()
        assert wanted in paged.read_text()  # it went through the pager
    # --json on a terminal is for scripts: no pager.
    env = agentctl_env(db, PAGER=f"tee {tmp_path / 'json.txt'}")
    term = TmuxTerminal(["diff", "last", "--json"], env, tmp_path, width=100)
    try:
        assert term.finish() == 0, term.screen()
        assert '"path": "calc.py"' in term.screen()
    finally:
        term.close()
    assert not (tmp_path / "json.txt").exists()
