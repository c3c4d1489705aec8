"""A failure is shown where it is reported, in the user's words (agentctl.ui.words and the
plain, status and log renderers that use it)."""

from __future__ import annotations

import json

from conftest import invoke, write_recipe

from agentctl.store import Event
from agentctl.ui.event_lines import describe_event
from agentctl.ui.plain import output_tail
from agentctl.ui.words import plural, result_words, rule_words

CODES = ("nonzero_exit", "step_failed", "default:default", "1 tool calls")


def test_a_failed_run_shows_the_failing_output_in_run_status_and_log(tmp_path, workspace):
    recipe = write_recipe(
        tmp_path,
        "  - id: boom\n    run: 'seq 0 29 | sed s/^/line/; echo the-cause >&2; exit 2'\n",
    )
    ran = invoke("run", str(recipe), "--workspace", str(workspace))
    assert ran.exit_code == 1
    # The plain report (not a terminal) ends with the cause, not with a code.
    assert "the-cause" in ran.stdout and "failed with exit 2" in ran.stdout
    assert "line29" in ran.stdout and "line5" not in ran.stdout  # the last lines only
    assert "agentctl rollback" in ran.stderr
    # The event lines (stderr) show it under the failing command too.
    assert "    │ the-cause" in ran.stderr
    status = invoke("status", "last")
    assert "the-cause" in status.stdout and "agentctl rollback" in status.stdout
    log = invoke("log", "last")
    assert "│ the-cause" in log.stdout
    for text in (ran.stdout, ran.stderr, status.stdout, log.stdout):
        assert not any(code in text for code in CODES), text


def ev(type_: str, step: str | None = "s", **data) -> Event:
    return Event(1, 1_700_000_000.0, type_, step, data)


def test_codes_become_words():
    assert result_words("nonzero_exit", 2) == "failed with exit 2"
    assert result_words("timeout", None) == "timed out"
    assert result_words(None, None, ok=True) == "ok"
    assert rule_words("default:default (allow)") == "no policy given (allow)"
    assert rule_words("ci-safe:default (ask)") == "ci-safe's default (ask)"
    assert (
        rule_words("builtin:outside-workspace (deny)") == "built-in rule outside-workspace (deny)"
    )
    assert rule_words("ci-safe:no-destruction (deny)") == "ci-safe:no-destruction (deny)"
    assert plural(1, "tool call") == "1 tool call" and plural(2, "tool call") == "2 tool calls"
    one_call = {"message": {"tool_calls": [{"id": "c"}]}, "model": "m"}
    assert "1 tool call " in describe_event("model_response", "s", {"reply": one_call})
    failed = describe_event(
        "job_failed", None, {"error": {"type": "step_failed", "message": "step a failed"}}
    )
    assert failed == "job failed: step a failed"


def test_a_check_run_is_not_shown_as_an_agent_action():
    started = describe_event(
        "action_started",
        "fix",
        {"key": "fix/check2", "tool": "shell", "args": {"command": "pytest"}},
    )
    agent = describe_event(
        "action_started",
        "fix",
        {"key": "fix/t1/c0", "tool": "shell", "args": {"command": "pytest"}},
    )
    assert started == "[fix] check 2: pytest" and agent == "[fix] → shell: pytest"
    finished = {"key": "fix/check2", "tool": "shell", "ok": False, "exit_code": 1, "output": "E x"}
    assert describe_event("action_finished", "fix", finished).startswith(
        "[fix] ← check 2 failed with exit 1"
    )
    assert output_tail("action_finished", finished) == ["    │ E x"]
    # An agent's own failed command is the model's business: no tail under it.
    assert output_tail("action_finished", {**finished, "key": "fix/t1/c0"}) == []


def change(path: str, kind: str, before: str | None, after: str | None, seq: int = 1):
    from agentctl.changes.history import Change

    def state(text: str | None):
        return None if text is None else {"mode": "100644", "sha256": str(hash(text)), "text": text}

    return Change(f"{seq}.0", seq, 0, "fix", path, kind, state(before), state(after))


def test_the_files_changed_line_counts_lines_as_git_diff_stat_does():
    from agentctl.changes.stats import diff_stats
    from agentctl.ui.words import files_changed_line

    changes = [
        change("calc.py", "modified", "a\nb\nc\n", "a\nB\nc\nd\ne\n"),
        change("calc.py", "modified", "a\nB\nc\nd\ne\n", "a\nB\nc\nd\ne\nf\n", seq=2),
        change("NOTES.md", "created", None, "# Notes\n", seq=3),
        change("old.txt", "deleted", "x\n", None, seq=4),
        change("tmp.txt", "created", None, "gone\n", seq=5),
        change("tmp.txt", "deleted", "gone\n", None, seq=6),
    ]
    assert files_changed_line(diff_stats(changes), "abc") == (
        "files changed: NOTES.md (new, +1 −0), calc.py (+4 −1), old.txt (deleted)"
        " — agentctl diff abc"
    )
    assert files_changed_line([], "abc") is None
    many = [change(f"f{i}\x1b[31m.txt", "created", None, "x\n", seq=i) for i in range(9)]
    line = files_changed_line(diff_stats(many), "abc") or ""
    assert line.endswith(", and 3 more — agentctl diff abc") and "\x1b" not in line


def test_a_run_ends_with_the_files_it_changed(tmp_path, workspace):
    (workspace / "kept.txt").write_text("one\n")
    recipe = write_recipe(
        tmp_path, "  - id: write\n    run: printf 'a\\nb\\n' > out.txt && echo two >> kept.txt\n"
    )
    ran = invoke("run", str(recipe), "--workspace", str(workspace))
    assert ran.exit_code == 0, ran.output
    job = invoke("status", "last", "--json")
    job_id = json.loads(job.stdout)["id"]
    assert ran.stdout.splitlines()[-1] == (
        f"files changed: kept.txt (+1 −0), out.txt (new, +2 −0) — agentctl diff {job_id}"
    )
    assert (
        "files changed"
        not in invoke("run", str(recipe), "--workspace", str(workspace), "--json").stdout
    )
