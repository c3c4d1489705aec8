"""The live view: state folded from events, rendered by rich, data never read as codes."""

from __future__ import annotations

import pytest
from prompt_fakes import Keys
from rich.console import Console

from agentctl.store import Event
from agentctl.ui.view import JobViewState, format_elapsed, render_job_view

EVIL = "\x1b]0;evil\x07 \x1b[31mred [link=http://x]y[/link] \u202eabc"
EVIL_SHOWN = ("\\x1b]0;evil\\x07", "\\x1b[31m", "[link=http://x]y[/link]", "\\u202e")

T0 = 1_700_000_000.0


def events(*items) -> list[Event]:
    return [
        Event(seq, T0 + seq, type_, step, data)
        for seq, (type_, step, data) in enumerate(items, start=1)
    ]


def agent_job() -> list[Event]:
    return events(
        (
            "job_created",
            None,
            {
                "recipe": "fix-tests",
                "steps": [
                    {"id": "context", "kind": "run"},
                    {"id": "fix", "kind": "agent"},
                    {"id": "confirm", "kind": "approval"},
                ],
            },
        ),
        ("runner_started", None, {"pid": 1, "host": "h", "resumed": False}),
        ("step_started", "context", {"kind": "run"}),
        (
            "action_started",
            "context",
            {"key": "context/run", "tool": "shell", "args": {"command": "git log -5"}},
        ),
        (
            "action_finished",
            "context",
            {
                "key": "context/run",
                "tool": "shell",
                "ok": True,
                "output": "abc fix\n",
                "exit_code": 0,
            },
        ),
        ("step_finished", "context", {"state": "succeeded", "output": "abc fix\n"}),
        ("step_started", "fix", {"kind": "agent"}),
        (
            "model_response",
            "fix",
            {
                "key": "fix/t0",
                "reply": {
                    "model": "openai/gpt-4.1-mini",
                    "input_tokens": 1200,
                    "output_tokens": 34,
                    "cost_usd": 0.0123,
                    "message": {"content": None, "tool_calls": [{}]},
                },
            },
        ),
        (
            "action_started",
            "fix",
            {
                "key": "fix/t0/c0",
                "tool": "shell",
                "args": {"command": "pytest -x tests/test_a.py"},
                "decision": "allow",
                "rules": ["safe-commands"],
            },
        ),
    )


def folded(items: list[Event]) -> JobViewState:
    state = JobViewState("a1b2c3d4e5")
    for event in items:
        state.apply(event)
    return state


def render(state: JobViewState, width: int, now: float = T0 + 75) -> tuple[str, str]:
    console = Console(record=True, width=width, force_terminal=True, color_system="truecolor")
    console.print(render_job_view(state, now))
    return console.export_text(), console.export_text(styles=True)


@pytest.mark.parametrize("width", [80, 120])
def test_header_steps_and_current_action(width):
    state = folded(agent_job())
    text, _ = render(state, width)
    assert "job a1b2c3d4e5" in text and "fix-tests" in text and "running" in text
    assert "openai/gpt-4.1-mini" in text
    assert "tokens 1200+34" in text and "$0.0123" in text
    assert format_elapsed(75 - 2) in text  # since the runner started
    lines = text.splitlines()
    assert any("context" in line and "succeeded" in line for line in lines)
    assert any("fix" in line and "agent running" in line for line in lines)
    assert any("confirm" in line and "pending" in line for line in lines)
    assert "shell: pytest -x tests/test_a.py" in text
    assert "(allow by safe-commands)" in text


def test_usage_adds_up_and_the_end_stops_the_clock():
    items = agent_job() + events(
        (
            "model_response",
            "fix",
            {
                "key": "fix/t1",
                "reply": {
                    "model": "anthropic/claude",
                    "input_tokens": 10,
                    "output_tokens": 6,
                    "cost_usd": 0.5,
                    "message": {"content": "All green now."},
                },
            },
        ),
        ("job_failed", None, {"error": {"type": "step_failed", "message": "boom"}}),
    )
    items[-1].ts = items[-2].ts = T0 + 20
    state = folded(items)
    assert (state.input_tokens, state.output_tokens) == (1210, 40)
    assert state.model == "anthropic/claude" and state.state == "failed"
    text, _ = render(state, 80, now=T0 + 500)
    assert "00:18" in text and "error: boom" in text
    assert "All green now." in text  # a model that does not stream still shows its text
    assert any("fix" in line and "failed" in line for line in text.splitlines())


def test_from_a_described_job_then_events():
    job = {
        "id": "ffff000011",
        "recipe": "r",
        "state": "interrupted",
        "steps": [
            {"id": "a", "kind": "run", "state": "succeeded"},
            {"id": "b", "kind": "run", "state": "interrupted"},
        ],
        "usage": {"input_tokens": 5, "output_tokens": 6, "cost_usd": 0.25},
        "pending_approvals": [],
    }
    state = JobViewState.from_job(job, state="starting")
    text, _ = render(state, 80)
    assert "starting" in text and "tokens 5+6" in text and "$0.25" in text
    state.apply(Event(9, T0, "runner_started", None, {"resumed": True}))
    state.apply(Event(10, T0, "step_started", "b", {"kind": "run"}))
    assert [s.status for s in state.steps] == ["succeeded", "running"]


def test_pending_approval_is_the_current_thing():
    state = folded(
        events(
            ("runner_started", None, {}),
            ("step_started", "gate", {"kind": "approval"}),
            (
                "approval_requested",
                "gate",
                {"request": "r3", "reason": "Ship it?", "tool": None, "args": {}, "rules": []},
            ),
        )
    )
    text, _ = render(state, 80)
    assert "approval r3" in text and "Ship it?" in text
    state.apply(Event(4, T0, "approval_decided", "gate", {"request": "r3"}))
    assert "approval r3" not in render(state, 80)[0]


def test_an_expired_approval_and_a_warning_are_shown_in_their_formatters_words():
    state = folded(
        events(
            ("runner_started", None, {}),
            ("step_started", "work", {"kind": "agent"}),
            ("approval_expired", "work", {"request": "r2"}),
        )
    )
    assert "[work] approval r2 expired: counted as a deny" in render(state, 100)[0]
    state.apply(Event(4, T0 + 4, "warning", None, {"message": EVIL}))
    text = render(state, 120)[0]
    assert "warning: " in text and "\\x1b[31m" in text and "\x1b]0;" not in text
    state.apply(Event(5, T0 + 5, "step_started", "next", {"kind": "run"}))
    assert "warning" not in render(state, 120)[0]  # a note belongs to its step


@pytest.mark.parametrize("width", [80, 120])
def test_tool_output_and_model_text_are_shown_never_obeyed(width):
    state = folded(
        events(
            ("job_created", None, {"recipe": EVIL, "steps": [{"id": "s", "kind": "agent"}]}),
            ("runner_started", None, {}),
            ("step_started", "s", {"kind": "agent"}),
            ("action_started", "s", {"key": "k", "tool": "shell", "args": {"command": EVIL}}),
            (
                "action_finished",
                "s",
                {"key": "k", "tool": "shell", "ok": True, "output": "line one\n" + EVIL + "\n"},
            ),
        )
    )
    state.add_text("thinking " + EVIL)
    text, styled = render(state, width)
    for shown in EVIL_SHOWN:
        assert text.count(shown) >= 3, (shown, text)  # recipe name, action, output, text
    # Nothing of the data reached the terminal as a code: no title change, no red, no link.
    assert "\x1b]" not in styled and "\x07" not in styled
    assert "\x1b[31m" not in styled  # nothing in this frame is styled red
    assert "\x1b" not in text and "\u202e" not in text


def test_streamed_text_keeps_the_last_lines():
    state = JobViewState("j")
    for number in range(20):
        state.add_text(f"line {number}\n")
    state.add_text("partial")
    tail = state.tail()
    assert tail[-1] == "partial" and "line 19" in tail and "line 3" not in tail
    assert len(tail) <= 6


def test_a_spinner_while_waiting_and_none_when_done():
    state = folded(events(("runner_started", None, {}), ("step_started", "s", {"kind": "agent"})))
    state.steps[0].kind = "agent"
    assert "waiting for the model" in render(state, 80)[0]
    frames = {render(state, 80, now=T0 + i / 10)[0].splitlines()[2][0] for i in range(10)}
    assert len(frames) > 1
    state.apply(Event(3, T0 + 3, "job_succeeded", None, {}))
    text, _ = render(state, 80)
    assert "waiting" not in text and "succeeded" in text


def approved_then_denied() -> list[Event]:
    """The ci-safe run of issue 24: `write_file NOTES.md` asked and approved with `a`, then
    `git push` asked and denied with `d`."""
    write = {"path": "NOTES.md", "content": "# Notes\n"}
    push = {"command": "git push origin main"}
    ask = [{"policy": "ci-safe", "rule": "default", "decision": "ask"}]
    return events(
        ("runner_started", None, {}),
        ("step_started", "fix", {"kind": "agent"}),
        (
            "approval_requested",
            "fix",
            {
                "request": "r3",
                "key": "fix/t0/c0",
                "tool": "write_file",
                "args": write,
                "reason": "ci-safe asks",
                "rules": ask,
            },
        ),
        ("approval_decided", "fix", {"request": "r3", "decision": "approved", "by": "me"}),
        ("approval_used", "fix", {"request": "r3"}),
        (
            "action_started",
            "fix",
            {
                "key": "fix/t0/c0",
                "tool": "write_file",
                "args": write,
                "decision": "ask",
                "rules": ask,
                "approval": "r3",
            },
        ),
        (
            "action_finished",
            "fix",
            {"key": "fix/t0/c0", "tool": "write_file", "ok": True, "output": "wrote 8 bytes"},
        ),
        (
            "approval_requested",
            "fix",
            {
                "request": "r8",
                "key": "fix/t1/c0",
                "tool": "shell",
                "args": push,
                "reason": "pushing publishes the agent's work; a human decides",
                "rules": ask,
            },
        ),
    )


def test_while_an_approval_waits_the_previous_output_is_not_shown_under_it():
    state = folded(approved_then_denied())
    text, _ = render(state, 120)
    assert "approval r8" in text and "pushing publishes" in text
    assert "wrote 8 bytes" not in text  # the write's output, under the push's question


def test_a_denial_is_shown_on_the_denied_action_not_the_one_before():
    items = approved_then_denied()
    state = folded(items)
    for seq, (type_, data) in enumerate(
        [
            ("approval_decided", {"request": "r8", "decision": "denied", "by": "me"}),
            (
                "action_finished",
                {
                    "key": "fix/t1/c0",
                    "tool": "shell",
                    "ok": False,
                    "error": "denied",
                    "refused": True,
                    "decision": "deny",
                    "denied_by": "me",
                    "args": {"command": "git push origin main"},
                },
            ),
            ("job_succeeded", {}),
        ],
        start=len(items) + 1,
    ):
        state.apply(Event(seq, T0 + seq, type_, "fix" if type_ != "job_succeeded" else None, data))
    text, _ = render(state, 120)
    assert "write_file: NOTES.md" not in text, text
    assert "✗ [fix] shell: git push origin main" in text and "not run: denied" in text


# -- the approval prompt (rendered the same way) ----------------------------------------


def prompt_console(width: int = 80) -> Console:
    return Console(record=True, width=width, force_terminal=True)


def shell_request(command: str, **extra) -> dict:
    return {
        "request": "r7",
        "step": "deploy",
        "tool": "shell",
        "args": {"command": command},
        "rules": ["push-needs-a-human"],
        "reason": "git push needs a human",
        **extra,
    }


@pytest.mark.parametrize("width", [80, 120])
def test_prompt_shows_the_whole_command_visibly_and_the_rules(width):
    from agentctl.ui.prompts import ask_approval

    words = " ".join(f"w{number}" for number in range(150))
    console = prompt_console(width)
    answer = ask_approval(
        shell_request(f"git push {words}; {EVIL}"), console=console, reader=Keys("x", "", "a")
    )
    assert answer == "approve"
    text = console.export_text()
    assert all(
        f"w{number} " in text or f"w{number}\n" in text or f"w{number};" in text
        for number in range(150)
    )  # wrapped, never cut short
    for shown in EVIL_SHOWN:
        assert shown in text
    assert "\x1b]" not in console.export_text(styles=True)
    assert "push-needs-a-human" in text and "approval r7" in text and "deploy" in text
    assert "approved r7" in text


@pytest.mark.parametrize(
    "key,answer",
    [
        ("a", "approve"),
        ("y", "approve"),
        ("A", "approve"),
        ("d", "deny"),
        ("n", "deny"),
        (None, None),
    ],
)
def test_prompt_keys(key, answer):
    from agentctl.ui.prompts import ask_approval

    assert ask_approval(shell_request("ls"), console=prompt_console(), reader=Keys(key)) == answer


def test_d_asks_for_an_optional_reason_for_the_agent():
    from agentctl.ui.prompts import ask_approval

    console = prompt_console()
    answer = ask_approval(
        shell_request("ls"), console=console, reader=Keys("d", line="  use the  staging host ")
    )
    assert answer == ("deny", "use the staging host")
    assert "why?" in console.export_text()
    assert ask_approval(shell_request("ls"), console=prompt_console(), reader=Keys("d")) == "deny"


def test_question_mark_shows_details_then_waits_again():
    from agentctl.ui.prompts import ask_approval

    console = prompt_console()
    request = shell_request("ls", key="deploy/t2/c0", action_hash="ab" * 32)
    assert ask_approval(request, console=console, reader=Keys("?", "d")) == "deny"
    text = console.export_text()
    assert "deploy/t2/c0" in text and "denied r7" in text
    assert text.count("press a to approve") == 2


def test_an_answer_from_another_terminal_closes_the_prompt():
    from agentctl.ui.prompts import ask_approval

    checks = iter([False, False, True])
    keys = Keys("", "", "", "a")
    console = prompt_console()
    answer = ask_approval(
        shell_request("ls"), console=console, reader=keys, is_decided=lambda: next(checks)
    )
    assert answer == "decided" and keys.reads == 2
    assert "decided from another terminal" in console.export_text()


def test_diff_preview_for_write_and_edit(tmp_path):
    from agentctl.ui.approval_panel import diff_preview, render_approval

    (tmp_path / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    edit = diff_preview("edit_file", {"path": "calc.py", "old": "a - b", "new": "a + b"}, tmp_path)
    assert "-    return a - b" in edit and "+    return a + b" in edit
    assert edit[0] == "--- a/calc.py"
    new = diff_preview("write_file", {"path": "new.txt", "content": "hello\n"}, tmp_path)
    assert new[0] == "--- /dev/null" and "+hello" in new
    over = diff_preview("write_file", {"path": "calc.py", "content": "x = 1\n"}, tmp_path)
    assert "-def add(a, b):" in over and "+x = 1" in over
    outside = diff_preview("write_file", {"path": "/etc/passwd", "content": "x"}, tmp_path)
    assert "-root" not in "\n".join(outside)  # files outside the workspace are never read
    assert diff_preview("shell", {"command": "ls"}, tmp_path) == []
    console = prompt_console()
    console.print(
        render_approval(
            {
                "request": "r1",
                "step": "fix",
                "tool": "write_file",
                "args": {"path": "calc.py", "content": f"x = 1 # {EVIL}\n"},
                "rules": [],
                "reason": "no rule allowed it",
            },
            workspace=tmp_path,
        )
    )
    text = console.export_text()
    assert "+x = 1 # \\x1b]0;evil\\x07" in text and "calc.py" in text
    assert "\x1b]" not in console.export_text(styles=True)


def test_offer_rollback_says_yes_only_to_y():
    from agentctl.ui.prompts import offer_rollback

    console = prompt_console()
    assert offer_rollback("M calc.py\nA notes.md", console=console, reader=Keys("y")) is True
    assert "calc.py" in console.export_text()
    assert offer_rollback("M calc.py", console=prompt_console(), reader=Keys("\n")) is False
    assert offer_rollback("M calc.py", console=prompt_console(), reader=Keys(None)) is False


def test_a_check_run_and_the_default_policy_read_as_words():
    state = folded(
        events(
            ("step_started", "fix", {"kind": "agent"}),
            (
                "action_started",
                "fix",
                {
                    "key": "fix/check1",
                    "tool": "shell",
                    "args": {"command": "pytest -x"},
                    "decision": "ask",
                    "rules": ["default:default (ask)"],
                },
            ),
            ("action_finished", "fix", {"key": "fix/check1", "ok": False, "exit_code": 1}),
        )
    )
    text, _ = render(state, 120)
    assert "check 1: pytest -x" in text and "shell: pytest" not in text
    assert "(ask by no policy given)" in text and "default:default" not in text
    assert "failed with exit 1" in text


def test_each_finished_action_leaves_one_transcript_line_with_its_end_first():
    from agentctl.ui.view import transcript_line

    state = JobViewState("j")
    long = "pytest " + " ".join(f"tests/test_{n}.py" for n in range(40))
    started = Event(
        1,
        T0,
        "action_started",
        "fix",
        {
            "key": "k1",
            "tool": "shell",
            "args": {"command": long},
            "decision": "allow",
            "rules": [{"policy": "p", "id": "tests", "decision": "allow"}],
        },
    )
    state.apply(started)
    assert transcript_line(state, started) is None  # a running action is not history yet
    finished = Event(
        2,
        T0 + 1,
        "action_finished",
        "fix",
        {"key": "k1", "tool": "shell", "ok": False, "exit_code": 1},
    )
    state.apply(finished)
    line = transcript_line(state, finished)
    assert line is not None and "\n" not in line.plain
    assert line.plain.startswith("✗ [fix] shell: pytest tests/test_0.py")
    assert "test_39" not in line.plain  # the command is cut, how it ended is not
    assert line.plain.index("failed with exit 1") < line.plain.index("(allow by p:tests)")


def test_while_litellm_loads_the_view_says_so_not_waiting_for_the_model(monkeypatch):
    import threading

    from agentctl.models import loader

    state = folded(events(("runner_started", None, {}), ("step_started", "s", {"kind": "agent"})))
    state.client_loading = loader.client_loading
    gate = threading.Event()
    importing = threading.Thread(target=gate.wait)
    importing.start()
    monkeypatch.setattr(loader, "_prefetch_thread", importing)
    monkeypatch.setattr(loader, "_litellm_mod", None)
    try:
        text = render(state, 80)[0]
        assert "loading the model client" in text and "waiting for the model" not in text
    finally:
        gate.set()
        importing.join()
    assert "waiting for the model" in render(state, 80)[0]  # loaded: now it is the model


def test_the_log_and_the_view_show_an_action_by_its_tools_subject():
    from agentctl.ui.event_lines import _summarise_args
    from agentctl.ui.view import describe_action

    cases = [
        ("shell", {"command": "make test"}, "make test"),
        ("write_file", {"path": "a.txt", "content": "x"}, "a.txt"),
        ("http_get", {"url": "https://example.org/"}, "https://example.org/"),
        ("run_tests", {"command": "x"}, '{"command": "x"}'),  # a custom tool's argument
        ("git.git_log", {"path": "src"}, "src"),  # an MCP tool: known by name only
    ]
    for tool, args, shown in cases:
        assert describe_action(tool, args) == shown
        assert _summarise_args(tool, args) == shown
