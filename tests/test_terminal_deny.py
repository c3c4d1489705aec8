"""The `d` key in a real terminal asks for an optional reason, typed as a line, and the reason
is kept as the person's (a gate's step fails naming who said no and why)."""

from __future__ import annotations

import pytest
from test_terminal import Terminal, status, terminals, write_recipe  # noqa: F401 - a fixture

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def test_d_then_a_reason_denies_in_the_persons_words(tmp_path, workspace, terminals):  # noqa: F811
    db = tmp_path / "a.db"
    recipe = write_recipe(
        tmp_path, "  - id: gate\n    approval: Ship it?\n  - id: after\n    run: echo shipped\n"
    )
    term = Terminal(["run", str(recipe), "--workspace", str(workspace)], db, tmp_path)
    terminals.append(term)
    term.wait_for(r"press a to approve")
    term.child.send("d")
    term.wait_for(r"why\? \(optional")
    term.child.send("not on a Friday\r")
    assert term.finish() == 1, term.screen
    job = status(db, tmp_path)
    assert job["state"] == "failed"
    message = job["error"]["message"]
    assert "was denied by " in message and message.endswith(": not on a Friday"), message
    assert "via the prompt" not in message  # the name, not the audit detail
