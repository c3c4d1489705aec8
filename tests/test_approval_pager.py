"""What a parked or asked action looks like (issue 24, item 5): in CI a short summary instead
of the whole content; at the prompt the action shown once, the hidden lines counted right,
and `a` before `p` answered with why it waits."""

from __future__ import annotations

import io

from agentctl.engine.runner import Outcome
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
