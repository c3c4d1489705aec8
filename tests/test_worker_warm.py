"""Warm workers (issue 25): a job in a forked copy of the worker keeps a process of its own
(exit code, crash, session, output) without paying Python's start; idle workers wake when a
job is queued instead of polling once a second."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
from conftest import agentctl, make_job

from agentctl.process.fork import ForkedChild, can_fork, fork_child
from agentctl.store import open_store

pytestmark = pytest.mark.skipif(not can_fork(), reason="warm workers fork (Linux)")


def test_a_forked_job_reports_its_exit_code_and_output(tmp_path):
    log = tmp_path / "logs" / "job.log"

    def job() -> int:
        print("from the job", os.getpid(), os.getsid(0))
        return 3

    child = fork_child(job, log_path=log)
    assert child.wait(timeout=30) == 3
    said = log.read_text().split()
    assert said[:3] == ["from", "the", "job"]
    pid, session = int(said[3]), int(said[4])
    assert pid == child.pid != os.getpid()
    assert session == pid  # a session of its own: the worker's Ctrl-C does not reach it


def test_a_crash_in_a_forked_job_stays_in_it(tmp_path):
    log = tmp_path / "job.log"

    def crashes() -> int:
        raise RuntimeError("the job broke")

    child = fork_child(crashes, log_path=log)
    assert child.wait(timeout=30) == 1
    assert "RuntimeError: the job broke" in log.read_text()

    def killed() -> int:
        os.kill(os.getpid(), 9)
        return 0

    assert fork_child(killed, log_path=log).wait(timeout=30) == -9  # the worker goes on


def test_a_forked_job_stops_on_sigterm_with_default_handling(tmp_path):
    def sleeps() -> int:
        time.sleep(60)
        return 0

    child = fork_child(sleeps, log_path=tmp_path / "job.log")
    time.sleep(0.2)
    child.send_signal(15)
    assert child.wait(timeout=30) == -15
    assert isinstance(child, ForkedChild) and child.poll() == -15


def test_sqlite_wait_for_work_sees_a_queued_job(tmp_path, workspace):
    store = open_store(tmp_path / "w.db")
    assert store.wait_for_work(["default"], 0.05) is False
    make_job(store, workspace, "version: 1\nname: q\nsteps:\n  - {id: a, run: 'true'}\n")
    assert store.wait_for_work(["default"], 0.05) is False  # not queued: not work
    _queue_one(store, workspace, queue="nightly")
    assert store.wait_for_work(["default"], 0.05) is False  # another queue's
    assert store.wait_for_work(["default", "nightly"], 0.05) is True


def _queue_one(store, workspace: Path, queue: str = "default") -> str:
    from agentctl.engine.jobs import create_job
    from agentctl.recipe.load import load_recipe_text

    loaded = load_recipe_text("version: 1\nname: q\nsteps:\n  - {id: a, run: 'true'}\n", "<t>")
    return create_job(store, loaded, params={}, workspace=workspace, options={}, queue=queue)


def test_wait_for_work_wakes_on_a_queued_job(db_target, tmp_path, workspace):
    """enqueue -> the idle worker's wait returns: a notification on PostgreSQL, a look every
    20 ms on SQLite; either way well under the old one-second poll."""
    waiter = open_store(db_target)
    writer = open_store(db_target)
    waiter.wait_for_work(["default"], 0.01)  # PostgreSQL: LISTEN from now on
    woke: list[float] = []

    def wait() -> None:
        start = time.monotonic()
        if waiter.wait_for_work(["default"], 20):
            woke.append(time.monotonic() - start)

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.3)
    _queue_one(writer, workspace, queue="other")  # another queue does not wake it ...
    time.sleep(0.3)
    assert not woke
    _queue_one(writer, workspace)  # ... its own does
    thread.join(timeout=20)
    assert woke and woke[0] < 10
    waiter.close()
    writer.close()


@pytest.mark.slow
@pytest.mark.e2e
def test_warm_and_cold_workers_run_the_same_jobs(tmp_path):
    db = str(tmp_path / "a.db")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("version: 1\nname: r\nsteps:\n  - {id: a, run: echo ran >> out.txt}\n")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    for _ in range(3):
        queued = agentctl(
            ["run", str(recipe), "--workspace", str(workspace), "--queue"], db, tmp_path
        )
        assert queued.returncode == 0, queued.stderr
    warm = agentctl(["worker", "--once"], db, tmp_path)
    assert warm.returncode == 0, warm.stderr
    queued = agentctl(["run", str(recipe), "--workspace", str(workspace), "--queue"], db, tmp_path)
    cold = agentctl(["worker", "--once", "--no-warm"], db, tmp_path)
    assert cold.returncode == 0, cold.stderr
    assert (workspace / "out.txt").read_text().split() == ["ran"] * 4
    jobs = json.loads(agentctl(["jobs", "--json"], db, tmp_path).stdout)
    assert [job["state"] for job in jobs] == ["succeeded"] * 4


def test_a_warm_worker_loads_what_litellms_first_call_imports():
    """Every forked job's first model request used to import litellm's proxy types (~0.25 s):
    the warm parent loads them once. A litellm that moved the module fails this test."""
    import sys

    from agentctl.models.loader import FIRST_CALL_MODULES, warm_litellm

    assert warm_litellm() == list(FIRST_CALL_MODULES)
    assert all(name in sys.modules for name in FIRST_CALL_MODULES)


def test_a_warm_workers_job_child_imports_and_scans_nothing_the_parent_could(tmp_path, workspace):
    """Each forked job used to import eight modules (an agent job seven more), parse the
    default policy and (as root) rescan /etc and /var for root-only files: ~100 ms of CPU
    per job that the warm parent now does once (`warm_up`)."""
    import sys

    from agentctl.engine.launch import run_prepared_job
    from agentctl.engine.worker import warm_up
    from agentctl.policy.rules import default_policy
    from agentctl.process import sandbox_user

    warm_up()
    assert default_policy.cache_info().currsize == 1
    assert "agentctl.models.calls" in sys.modules  # an agent job's model client
    target = str(tmp_path / "warm.db")
    store = open_store(target)
    job = _queue_one(store, workspace)
    report = tmp_path / "report.json"

    def run() -> int:
        before = set(sys.modules)
        scans: list[tuple[str, ...]] = []
        scan = sandbox_user._scan_system

        def counted(roots: tuple[str, ...]) -> list[str]:
            scans.append(roots)
            return scan(roots)

        sandbox_user._scan_system = counted
        outcome = run_prepared_job(open_store(target), job, approver=None)
        new = sorted(m for m in set(sys.modules) - before if m.startswith(("agentctl", "bashlex")))
        report.write_text(json.dumps({"state": outcome.state, "new": new, "scans": scans}))
        return 0

    assert fork_child(run, log_path=tmp_path / "job.log").wait(timeout=60) == 0, (
        tmp_path / "job.log"
    ).read_text()
    got = json.loads(report.read_text())
    assert got["state"] == "succeeded"
    assert got["new"] == []
    assert got["scans"] == []
    store.close()


@pytest.mark.slow
@pytest.mark.e2e
def test_a_warm_worker_builds_the_reply_classes_litellm_completes_lazily():
    """litellm and openai complete their reply classes (pydantic) at the first answer of a
    process: every forked agent job used to build them again (~40 ms of CPU, and ~0.1 s
    importing httpcore for its HTTP client). Checked in a fresh interpreter."""
    import subprocess
    import sys

    code = (
        "from agentctl.models.loader import warm_litellm\n"
        "warm_litellm()\n"
        "import sys\n"
        "from litellm.types.utils import ModelResponse\n"
        "from openai.types.chat import ChatCompletion\n"
        "print(ModelResponse.__pydantic_complete__, ChatCompletion.__pydantic_complete__,"
        " 'httpcore' in sys.modules)\n"
    )
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.stdout.split() == ["True", "True", "True"], done.stderr
