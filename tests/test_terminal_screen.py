"""What a person sees once an agent run ends, in a real terminal emulator (tmux) at 120 and 60
columns: the denial on the action that was denied, one line per action left in the
scrollback, and the files the job changed (issue 24)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import agentctl, agentctl_env
from fakeserver import ScriptedOpenAIServer
from tmux_terminal import TMUX, TmuxTerminal

pytestmark = [
    pytest.mark.slow,
    pytest.mark.e2e,
    pytest.mark.timeout(300),  # a whole agent run in a terminal; on a loaded machine, minutes
    pytest.mark.skipif(TMUX is None, reason="tmux is not installed"),
]

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-canary-screen-0123456789abcdef"

RECIPE = """
version: 1
name: tidy
models:
  default: {{model: openai/fake-model, api_base: "{base}", api_key_env: FAKE_KEY}}
steps:
  - id: fix
    agent:
      instructions: Fix the average and write notes.
      tools: [read_file, edit_file, write_file, shell]
"""

# The ci-safe run of issue 24: reads and an edit under src/ are allowed, NOTES.md is asked
# (approved with `a`), `git push` is asked (denied with `d`).
SCRIPT = [
    {"tool_calls": [{"name": "read_file", "arguments": {"path": "src/calc.py"}}]},
    {
        "tool_calls": [
            {
                "name": "edit_file",
                "arguments": {"path": "src/calc.py", "old": "a + b + 1", "new": "a + b"},
            }
        ]
    },
    {
        "tool_calls": [
            {"name": "write_file", "arguments": {"path": "NOTES.md", "content": "# Notes\nfixed\n"}}
        ]
    },
    {"tool_calls": [{"name": "shell", "arguments": {"command": "git push origin main"}}]},
    {"content": "Fixed add() and wrote NOTES.md; the push was denied."},
]


@pytest.fixture
def terminals():
    started: list[TmuxTerminal] = []
    yield started
    for terminal in started:
        terminal.close()


def run_args(tmp_path: Path, server: ScriptedOpenAIServer) -> list[str]:
    """`run` of the ci-safe scenario, with its workspace and recipe written."""
    workspace = tmp_path / "ws"
    (workspace / "src").mkdir(parents=True)
    (workspace / "src" / "calc.py").write_text("def add(a, b):\n    return a + b + 1\n")
    recipe = tmp_path / "tidy.yaml"
    recipe.write_text(RECIPE.format(base=server.base_url))
    args = ["run", str(recipe), "--workspace", str(workspace)]
    return args + ["--policy", str(ROOT / "policies" / "ci-safe.yaml")]


def start_run(tmp_path: Path, width: int, server: ScriptedOpenAIServer) -> TmuxTerminal:
    env = agentctl_env(tmp_path / "a.db", FAKE_KEY=KEY, GITHUB_ACTIONS="")
    return TmuxTerminal(run_args(tmp_path, server), env, tmp_path, width=width)


@pytest.mark.parametrize("width", [120, 60])
def test_an_agent_run_leaves_its_story_and_the_denial_where_it_belongs(tmp_path, terminals, width):
    with ScriptedOpenAIServer(SCRIPT) as server:
        term = start_run(tmp_path, width, server)
        terminals.append(term)
        term.wait_for(r"press a to approve")
        assert "NOTES.md" in term.screen()
        term.send("a")
        term.wait_for(r"git push origin main[\s\S]*press a to approve")
        term.send("d")
        term.wait_for(r"why\? \(optional")
        term.send("Enter")
        assert term.finish() == 0, term.screen()
    screen = term.screen()
    job = re.search(r"job ([0-9a-f]{10}) succeeded", screen)
    assert job, screen
    lines = screen.splitlines()
    # The denial is on the push, never on the write that was approved.
    writes = [line for line in lines if "write_file: NOTES.md" in line]
    assert writes and not [line for line in writes if "denied" in line], screen
    assert any("approved by" in line for line in writes), screen
    pushes = [line for line in lines if "shell: git push origin main" in line]
    assert pushes and all("not run: denied by" in line for line in pushes), screen
    # One line per action stays in the scrollback, in order.
    story = [
        "✓ [fix] read_file: src/calc.py",
        "✓ [fix] edit_file: src/calc.py",
        "✓ [fix] write_file: NOTES.md",
        "✗ [fix] shell: git push origin main",
    ]
    found = [next(i for i, line in enumerate(lines) if line.startswith(s)) for s in story]
    assert found == sorted(found), screen
    # ... each one row of the terminal, cut rather than wrapped.
    rows = term.screen(joined=False).splitlines()
    assert any(row.startswith("✓ [fix] write_file: NOTES.md") for row in rows)
    assert all(len(row) <= width for row in rows)
    # The run ends with what it changed and how to see it.
    end = [line for line in lines if line.strip() and not line.startswith("Pane is dead")][-1]
    assert end == (
        f"files changed: NOTES.md (new, +2 −0), src/calc.py (+1 −1) — agentctl diff {job[1]}"
    ), screen


def test_watch_shows_the_denial_on_the_denied_action_too(tmp_path, terminals):
    with ScriptedOpenAIServer(SCRIPT) as server:
        db = tmp_path / "w.db"
        args = [*run_args(tmp_path, server), "--detach", "-q"]
        detached = agentctl(args, db, tmp_path, FAKE_KEY=KEY)
        assert detached.returncode == 0, detached.stderr
        job_id = detached.stdout.strip()
        env = agentctl_env(db, FAKE_KEY=KEY, GITHUB_ACTIONS="")
        watch = TmuxTerminal(["watch", job_id], env, tmp_path, width=120)
        terminals.append(watch)
        watch.wait_for(r"NOTES\.md[\s\S]*press a to approve")
        watch.send("a")
        watch.wait_for(r"git push origin main[\s\S]*press a to approve")
        watch.send("d")
        watch.wait_for(r"why\? \(optional")
        watch.send("Enter")
        assert watch.finish() == 0, watch.screen()
    lines = watch.screen().splitlines()
    writes = [line for line in lines if "write_file: NOTES.md" in line]
    assert writes and not [line for line in writes if "denied" in line], lines
    pushes = [line for line in lines if "shell: git push origin main" in line]
    assert pushes and all("not run: denied by" in line for line in pushes), lines
    assert any(line.startswith("files changed: NOTES.md (new, +2 −0)") for line in lines)
