"""What a parked or asked action looks like (issue 24, item 5): in CI a short summary instead
of the whole content; at the prompt the action shown once, the hidden lines counted right,
and `a` before `p` answered with why it waits."""

from __future__ import annotations

import io

import pytest
from prompt_fakes import Keys, recording_pager

from agentctl.engine.run import Outcome
from agentctl.ui.outcome import show_outcome

BIG = "".join(f"line {n:03d} of the notes " + "x" * 45 + "\n" for n in range(120))


def parked_write(content: str = BIG) -> Outcome:
    request = {
        "request": "r7",
        "step": "work",
        "tool": "write_file",
        "args": {"path": "NOTES.md", "content": content},
        "reason": "no rule of strict matches NOTES.md",
        "rules": [],
    }
    return Outcome("abc123", "awaiting_approval", 3, pending=[request])


def test_a_parked_8kb_write_prints_a_short_summary_not_the_content():
    assert len(BIG.encode()) == 8160
    out = io.StringIO()
    show_outcome(parked_write(), stream=out)
    text = out.getvalue()
    assert len(text) < 1200, text
    assert "write_file NOTES.md" in text
    assert "content: 8.0 KB, 120 lines:" in text
    assert "line 000 of the notes" in text and "line 002 of the notes" in text
    assert "line 003" not in text and "line 119" not in text
    assert "117 more lines" in text
    assert "agentctl status abc123 --json" in text
    assert "agentctl approve abc123 r7" in text and "agentctl resume abc123" in text
    assert "--all" not in text  # one request: nothing to batch
    assert max(len(line) for line in text.splitlines()) < 140


def test_short_arguments_are_shown_whole_on_their_own_lines():
    out = io.StringIO()
    show_outcome(parked_write("hello\n"), stream=out)
    text = out.getvalue()
    assert "write_file NOTES.md" in text and "content: 6 bytes, 1 line:" in text
    assert "status abc123 --json" in text
    request = parked_write().pending[0]
    request.update(tool="shell", args={"command": "git push origin main"})
    out = io.StringIO()
    show_outcome(Outcome("abc123", "awaiting_approval", 3, pending=[request]), stream=out)
    assert "    shell git push origin main\n" in out.getvalue()
    assert "--json" not in out.getvalue()  # nothing was cut


# -- the prompt --------------------------------------------------------------------------

ROWS = 40


def console_of(rows: int = ROWS):
    from rich.console import Console

    return Console(record=True, file=io.StringIO(), height=rows, width=100, color_system=None)


def write_request(path: str = "NOTES.md", content: str = BIG, request: str = "r7") -> dict:
    return {
        "request": request,
        "step": "work",
        "key": "work/t0/c0",
        "tool": "write_file",
        "args": {"path": path, "content": content},
        "action_hash": "ab" * 32,
        "reason": f"no rule of strict matches {path}",
        "rules": [],
    }


def test_the_pager_shows_a_tall_write_once(tmp_path):
    from agentctl.ui.prompts import ask_approval

    pages: list[str] = []
    answer = ask_approval(
        write_request(),
        console=console_of(),
        workspace=tmp_path,
        reader=Keys("p", "a"),
        pager=recording_pager(pages),
    )
    assert answer == "approve"
    [page] = pages
    assert page.count("line 050 of the notes") == 1  # not raw, diff and JSON: once
    assert "line 000 of the notes" in page and "line 119 of the notes" in page
    assert "\\n" not in page  # no JSON string with escaped newlines
    assert "ab" * 32 in page and "work/t0/c0" in page  # the request's own facts, once


def test_the_hidden_count_counts_every_line_out_of_sight(tmp_path):
    from agentctl.ui.approval_panel import render_approval
    from agentctl.ui.prompts import ask_approval

    console = console_of()
    assert ask_approval(write_request(), console=console, workspace=tmp_path, reader=Keys()) is None
    text = console.export_text()
    hidden = int(text.split(" lines hidden")[0].rsplit("(", 1)[1])
    full = console_of(rows=1000)
    full.print(render_approval(write_request(), workspace=tmp_path))
    total = len(full.export_text().rstrip("\n").split("\n"))
    before = text.split("lines hidden")[0].rstrip("\n").split("\n")
    shown = len([line for line in before if line.strip()]) - 1  # less the "(N" line itself
    assert hidden >= 120 - shown  # every line of the file not on screen is counted
    assert hidden == total - (ROWS - 5)
    assert "line 119" not in text.split("lines hidden")[0]


def test_a_before_p_says_why_it_waits(tmp_path):
    from agentctl.ui.prompts import ask_approval

    console = console_of()
    pages: list[str] = []
    answer = ask_approval(
        write_request(),
        console=console,
        workspace=tmp_path,
        reader=Keys("a", "p", "a"),
        pager=recording_pager(pages),
    )
    assert answer == "approve" and pages
    text = console.export_text()
    assert "a waits until you have read the whole action" in text
    assert text.index("a waits") < text.index("approved r7")


def batch_request(tmp_path) -> dict:
    first = write_request("a.txt", "A\n", "r5")
    first["batch"] = [
        write_request("b.txt", "B\n", "r6"),
        {**write_request("c.txt", "C\n", "r7"), "tool": "shell", "args": {"command": "make c"}},
    ]
    return first


def test_all_shows_the_rest_of_the_turn_then_approves_it_on_y(tmp_path):
    from agentctl.ui.prompts import ask_approval

    console = console_of()
    answer = ask_approval(batch_request(tmp_path), console=console, reader=Keys("A", "y"))
    assert answer == "approve_all"
    text = console.export_text()
    assert "A to approve all 3 of this turn" in text
    shown_after_a = text.split("A to approve all")[1]
    assert "b.txt" in shown_after_a and "make c" in shown_after_a and "r6" in shown_after_a
    assert "approved r5, r6, r7" in text


def test_all_then_another_key_goes_back_to_this_one(tmp_path):
    from agentctl.ui.prompts import ask_approval

    console = console_of()
    answer = ask_approval(batch_request(tmp_path), console=console, reader=Keys("A", "n", "a"))
    assert answer == "approve"
    assert "approved r5" in console.export_text()


def test_without_a_batch_there_is_no_all_and_A_approves_this_one(tmp_path):
    from agentctl.ui.prompts import ask_approval

    console = console_of()
    assert ask_approval(write_request("a.txt", "A\n"), console=console, reader=Keys("A")) == (
        "approve"
    )
    assert "of this turn" not in console.export_text()


def test_all_with_an_action_out_of_sight_pages_everything_first(tmp_path):
    from agentctl.ui.prompts import ask_approval

    request = batch_request(tmp_path)
    request["batch"][0] = write_request("b.txt", BIG, "r6")
    pages: list[str] = []
    answer = ask_approval(
        request, console=console_of(), reader=Keys("A", "y"), pager=recording_pager(pages)
    )
    assert answer == "approve_all"
    [page] = pages
    assert "line 119 of the notes" in page and "make c" in page and "a.txt" in page


# -- end to end: a real terminal, and CI ---------------------------------------------------

WRITER = """version: 1
name: notes
models:
  default: {{model: openai/fake-model, api_base: "{base}", api_key_env: FAKE_KEY}}
policy: {policy}
steps:
  - id: work
    agent:
      instructions: Write the notes.
      tools: [write_file]
"""
ASKS = "version: 1\nname: asks\ndefault: ask\nsandbox: off\nrules: []\n"
SCRIPT = [
    {"tool_calls": [{"name": "write_file", "arguments": {"path": "NOTES.md", "content": BIG}}]},
    {"content": "Wrote the notes."},
]


def writer_recipe(tmp_path, base: str):
    policy = tmp_path / "asks.yaml"
    policy.write_text(ASKS)
    recipe = tmp_path / "notes.yaml"
    recipe.write_text(WRITER.format(base=base, policy=policy))
    return recipe


@pytest.mark.slow
@pytest.mark.e2e
def test_a_real_terminal_pages_the_tall_write_once_and_says_why_a_waits(
    tmp_path, workspace, monkeypatch
):
    from fakeserver import ScriptedOpenAIServer
    from test_terminal import Terminal

    monkeypatch.setenv("FAKE_KEY", "sk-fake-0123456789abcdef")
    monkeypatch.setenv("PAGER", "cat")  # the pager's text lands on the screen we read
    with ScriptedOpenAIServer(SCRIPT) as server:
        recipe = writer_recipe(tmp_path, server.base_url)
        args = ["run", str(recipe), "--workspace", str(workspace)]
        term = Terminal(args, tmp_path / "a.db", tmp_path)
        try:
            hidden = int(term.wait_for(r"\((\d+) lines hidden").group(1))
            head = term.screen.split("lines hidden")[0]
            shown = [n for n in range(120) if f"line {n:03d} of" in head]
            assert shown and hidden >= 120 - len(shown), (hidden, shown)
            term.wait_for(r"press p to read the whole action")
            term.child.send("a")
            term.wait_for(r"a waits until you have read the whole action")
            before = term.screen
            term.child.send("p")
            term.wait_for(r"press a to approve")
            paged = term.screen[len(before) :]
            assert paged.count("line 050 of the notes") == 1, paged
            assert "line 119 of the notes" in paged and "\\n" not in paged
            term.child.send("a")
            assert term.finish() == 0, term.screen
        finally:
            if term.child.isalive():
                term.child.terminate(force=True)
    assert (workspace / "NOTES.md").read_text() == BIG


@pytest.mark.slow
@pytest.mark.e2e
def test_ci_prints_a_short_summary_of_the_parked_write(tmp_path, workspace):
    from conftest import agentctl
    from fakeserver import ScriptedOpenAIServer

    with ScriptedOpenAIServer(SCRIPT) as server:
        recipe = writer_recipe(tmp_path, server.base_url)
        done = agentctl(
            ["run", str(recipe), "--workspace", str(workspace), "--non-interactive"],
            tmp_path / "a.db",
            tmp_path,
            FAKE_KEY="sk-fake-0123456789abcdef",
            CI="true",
        )
    assert done.returncode == 3, done.stderr
    output = done.stdout + done.stderr
    assert "line 000 of the notes" in done.stdout and "117 more lines" in done.stdout
    assert "line 119" not in output  # the whole content is in `status --json`, not the log
    assert max(len(line) for line in output.splitlines()) < 300
    assert "status" in done.stdout and "--json" in done.stdout
