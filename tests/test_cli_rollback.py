"""`agentctl diff` and `agentctl rollback`, on jobs whose log holds changes recorded around real
file operations."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest
from conftest import invoke

from agentctl.changes.record import ChangeRecorder
from agentctl.engine.jobs import create_job
from agentctl.process.procinfo import current_process, is_process_alive
from agentctl.process.run import minimal_env, run_process
from agentctl.recipe.load import load_recipe_text
from agentctl.store import NewEvent
from agentctl.store.sqlite import SQLiteStore
from agentctl.tools.builtin import builtin_spec

RECIPE = (
    "version: 1\nname: edits\nsteps:\n  - id: first\n    run: 'true'\n"
    "  - id: second\n    run: 'true'\n  - id: third\n    run: 'true'\n"
)


class Job:
    """A job in the test database whose steps' actions are real shell commands, recorded."""

    def __init__(self, db: Path, ws: Path):
        self.ws = ws
        self.store = SQLiteStore(db)
        loaded = load_recipe_text(RECIPE, "r.yaml")
        self.id = create_job(self.store, loaded, params={}, workspace=ws, options={})
        self.recorder = ChangeRecorder(ws)

    def act(self, step: str, command: str) -> None:
        token = self.recorder.before(builtin_spec("shell"), {"command": command})
        result = run_process(command, cwd=self.ws, env=minimal_env(), timeout=30)
        assert result.exit_code == 0, result.output
        changes = self.recorder.after(token)
        self.store.append_events(
            self.id,
            [
                NewEvent(
                    "action_finished",
                    step,
                    {
                        "key": f"{step}/run",
                        "tool": "shell",
                        "ok": True,
                        "output": result.output,
                        "exit_code": 0,
                        "truncated": False,
                        "error": None,
                        "duration_ms": 1,
                        "changes": changes,
                    },
                )
            ],
            now=time.time(),
        )

    def events(self, type_: str) -> list:
        return [e for e in self.store.read_events(self.id) if e.type == type_]


@pytest.fixture
def job(tmp_path: Path, workspace: Path) -> Job:
    (workspace / "app.py").write_text("def main():\n    return 1\n")
    (workspace / "notes.md").write_text("keep me\n")
    (workspace / "logo.bin").write_bytes(b"\0PNG")
    made = Job(tmp_path / "agentctl.db", workspace)
    made.act("first", "sed -i 's/return 1/return 2/' app.py && echo 'new' > added.txt")
    made.act(
        "second",
        "rm notes.md && printf '\\1\\2' > logo.bin && mkdir out && echo built > out/result.txt",
    )
    return made


def test_diff_shows_a_plain_unified_diff(job: Job) -> None:
    result = invoke("diff", job.id)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "diff --git a/app.py b/app.py\n--- a/app.py\n+++ b/app.py\n" in out
    assert "-    return 1\n+    return 2\n" in out
    assert "deleted file mode 100644\n--- a/notes.md\n+++ /dev/null\n" in out
    assert "new file mode 100644\n--- /dev/null\n+++ b/out/result.txt\n" in out
    assert "Binary file logo.bin changed" in out
    assert "\x1b[" not in out  # not a terminal: no colour


def test_diff_of_one_step_and_of_an_unknown_step(job: Job) -> None:
    result = invoke("diff", job.id[:6], "--step", "first")
    assert result.exit_code == 0
    assert "app.py" in result.stdout and "notes.md" not in result.stdout
    empty = invoke("diff", job.id, "--step", "third")
    assert empty.exit_code == 0 and empty.stdout == ""
    assert "no recorded file changes in step third" in empty.stderr
    bad = invoke("diff", job.id, "--step", "nope")
    assert bad.exit_code == 2
    assert "error: unknown step 'nope'" in bad.stderr and "first, second, third" in bad.stderr


def test_diff_json_lists_changes_without_contents(job: Job) -> None:
    result = invoke("diff", "last", "--json")
    assert result.exit_code == 0
    changes = json.loads(result.stdout)
    assert [(c["step"], c["path"], c["kind"]) for c in changes] == [
        ("first", "added.txt", "created"),
        ("first", "app.py", "modified"),
        ("second", "logo.bin", "modified"),
        ("second", "notes.md", "deleted"),
        ("second", "out/result.txt", "created"),
    ]
    app_py = changes[1]
    assert set(app_py) == {
        "id",
        "seq",
        "step",
        "path",
        "kind",
        "before",
        "after",
        "binary",
        "too_large",
    }
    assert set(app_py["before"]) == {"mode", "sha256", "size"}
    assert app_py["before"]["size"] == len("def main():\n    return 1\n")
    assert len(app_py["after"]["sha256"]) == 64 and app_py["before"]["mode"] == "100644"
    assert changes[0]["before"] is None and changes[3]["after"] is None
    assert changes[2]["binary"] is True
    assert "return" not in result.stdout


def test_rollback_needs_yes_when_nobody_can_be_asked(job: Job) -> None:
    result = invoke("rollback", job.id)
    assert result.exit_code == 2
    assert f"error: rolling back job {job.id} would change 5 files" in result.stderr
    assert "--yes" in result.stderr
    assert (job.ws / "added.txt").exists() and not job.events("rollback")


def test_rollback_yes_restores_everything_and_logs_it(job: Job) -> None:
    result = invoke("rollback", job.id, "--yes")
    assert result.exit_code == 0, result.stderr
    assert "restored  app.py" in result.stdout and "removed   added.txt" in result.stdout
    assert (job.ws / "app.py").read_text() == "def main():\n    return 1\n"
    assert (job.ws / "notes.md").read_text() == "keep me\n"
    assert (job.ws / "logo.bin").read_bytes() == b"\0PNG"
    assert sorted(os.listdir(job.ws)) == ["app.py", "logo.bin", "notes.md"]
    [started] = job.events("rollback_started")
    [event] = job.events("rollback")
    assert started.seq < event.seq
    assert sorted(event.data["restored"]) == ["app.py", "logo.bin", "notes.md"]
    assert sorted(event.data["removed"]) == ["added.txt", "out/result.txt"]
    assert event.data["conflicts"] == [] and event.data["forced"] is False
    assert event.data["to_step"] is None and len(event.data["changes"]) == 5
    # Nothing is left to show or to undo.
    assert invoke("diff", job.id, "--json").stdout.strip() == "[]"
    again = invoke("rollback", job.id, "--yes")
    assert again.exit_code == 0 and "nothing to roll back" in again.stdout
    logged = invoke("log", job.id, "--json")
    types = [json.loads(line)["type"] for line in logged.stdout.splitlines()]
    assert types[-2:] == ["rollback_started", "rollback"]


def test_rollback_to_a_step(job: Job) -> None:
    result = invoke("rollback", job.id, "--to", "second", "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    done = json.loads(result.stdout)
    assert done["to_step"] == "second" and done["dry_run"] is False
    assert sorted(done["restored"]) == ["logo.bin", "notes.md"]
    assert done["removed"] == ["out/result.txt"] and done["conflicts"] == []
    assert {i["path"]: i["action"] for i in done["plan"]} == {
        "logo.bin": "restore",
        "notes.md": "restore",
        "out/result.txt": "remove",
    }
    assert (job.ws / "app.py").read_text().endswith("return 2\n")
    assert (job.ws / "added.txt").exists() and not (job.ws / "out").exists()
    assert job.events("rollback")[0].data["to_step"] == "second"


def test_rollback_to_an_unknown_step(job: Job) -> None:
    result = invoke("rollback", job.id, "--to", "nope", "--yes")
    assert result.exit_code == 2
    assert "error: unknown step 'nope'" in result.stderr
    assert "hint: steps of this job: first, second, third" in result.stderr


def test_conflicts_are_left_alone_exit_1_then_force(job: Job) -> None:
    (job.ws / "app.py").write_text("a person's edit\n")
    result = invoke("rollback", job.id, "--yes")
    assert result.exit_code == 1
    assert "conflict  app.py: changed since the job" in result.stdout
    assert "error: 1 file changed since the job; left alone" in result.stderr
    assert "--force" in result.stderr
    assert (job.ws / "app.py").read_text() == "a person's edit\n"
    assert (job.ws / "notes.md").exists()  # everything else was rolled back
    assert job.events("rollback")[0].data["conflicts"] == [
        {"path": "app.py", "reason": "changed since the job"}
    ]
    forced = invoke("rollback", job.id, "--yes", "--force")
    assert forced.exit_code == 0, forced.stderr
    assert (job.ws / "app.py").read_text() == "def main():\n    return 1\n"
    assert job.events("rollback")[-1].data["forced"] is True


def test_rollback_refuses_a_job_with_a_live_runner(job: Job) -> None:
    me = current_process()
    job.store.acquire_lease(
        job.id,
        host=socket.gethostname(),
        pid=me.pid,
        start=me.start,
        now=time.time(),
        ttl=30,
        is_alive=is_process_alive,
    )
    for args in (["rollback", job.id, "--yes"], ["rollback", job.id]):
        result = invoke(*args)
        assert result.exit_code == 2
        assert f"error: job {job.id} is running" in result.stderr
        assert f"agentctl cancel {job.id}" in result.stderr
    assert (job.ws / "added.txt").exists() and not job.events("rollback")


def test_rollback_of_an_unknown_job(job: Job) -> None:
    result = invoke("rollback", "zzzz", "--yes")
    assert result.exit_code == 2 and "error: no job matches 'zzzz'" in result.stderr


def test_interactive_rollback_shows_the_plan_and_asks(job: Job, monkeypatch) -> None:
    monkeypatch.setattr("agentctl.cli.options.is_interactive", lambda non_interactive: True)
    (job.ws / "notes.md").write_text("written again by a person\n")
    declined = invoke("rollback", job.id, "--to", "second", input="n\n")
    assert declined.exit_code == 1
    assert f"job {job.id}: roll back 3 files from step second on:" in declined.stdout
    assert "  restore   logo.bin  (step second)" in declined.stdout
    assert "  remove    out/result.txt  (step second)" in declined.stdout
    assert (
        "  conflict  notes.md: created since the job (left alone; --force overwrites)"
        in declined.stdout
    )
    assert (job.ws / "out" / "result.txt").exists() and not job.events("rollback")
    accepted = invoke("rollback", job.id, "--to", "second", input="y\n")
    assert accepted.exit_code == 1  # done, but the conflict is reported
    assert not (job.ws / "out").exists()
    assert (job.ws / "notes.md").read_text() == "written again by a person\n"


def test_the_run_offer_and_the_rollback_command_say_it_the_same_way(job: Job, monkeypatch) -> None:
    """A failed run's offer and `agentctl rollback` show the same plan, ask the same question
    and report the same way (issue 24)."""
    from agentctl.cli.follow import offer_rollback

    monkeypatch.setattr("agentctl.cli.options.is_interactive", lambda non_interactive: True)
    declined = invoke("rollback", job.id, input="n\n")
    assert "roll these changes back? [y/N]" in declined.stdout, declined.stdout
    plan = [line for line in declined.stdout.splitlines() if line.startswith("  ")]
    offered: list[str] = []

    def offer(summary: str, **kw) -> bool:
        offered.append(summary)
        return True

    monkeypatch.setattr("agentctl.ui.prompts.offer_rollback", offer)
    offer_rollback(job.store, job.id)
    assert offered == ["\n".join(plan)]
    assert job.events("rollback")  # it was rolled back
