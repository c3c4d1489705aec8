"""`agentctl.client`: queue, look at, decide and cancel jobs from Python, as the commands do."""

from __future__ import annotations

import pytest
from conftest import write

from agentctl.client import Client
from agentctl.errors import AgentctlError

ASKS = """version: 1
name: asks
steps:
  - id: gate
    approval: Go on?
  - id: a
    run: echo done > out.txt
"""


def test_enqueue_status_and_a_key_that_repeats_nothing(tmp_path, workspace):
    recipe = write(tmp_path / "r.yaml", ASKS)
    with Client(tmp_path / "c.db") as client:
        job = client.enqueue(recipe, workspace=workspace, key="ticket-1")
        status = client.status(job)
        assert status["state"] == "queued" and status["recipe"] == "asks"
        assert client.enqueue(recipe, workspace=workspace, key="ticket-1") == job
        assert client.cancel(job) == "cancelled"
        assert client.status(job)["state"] == "cancelled"


def test_wait_times_out_on_a_job_nobody_runs(tmp_path, workspace):
    recipe = write(tmp_path / "r.yaml", ASKS)
    with Client(tmp_path / "c.db") as client:
        job = client.enqueue(recipe, workspace=workspace)
        with pytest.raises(TimeoutError, match="still queued"):
            client.wait(job, timeout=0.2, poll=0.05)


def test_errors_are_the_commands_errors(tmp_path, workspace):
    with Client(tmp_path / "c.db") as client:
        with pytest.raises(AgentctlError) as caught:
            client.enqueue(tmp_path / "missing.yaml", workspace=workspace)
        assert caught.value.exit_code == 2 and "not found" in caught.value.message
        with pytest.raises(AgentctlError):
            client.status("nope")


def test_approve_every_pending_request_of_a_parked_job(tmp_path, workspace):
    from agentctl.engine.launch import run_prepared_job

    recipe = write(tmp_path / "r.yaml", ASKS)
    with Client(tmp_path / "c.db") as client:
        job = client.enqueue(recipe, workspace=workspace)
        parked = run_prepared_job(client.store, job, approver=None)
        assert parked.state == "awaiting_approval"
        [record] = client.approve(job, every=True, comment="fine")
        assert record["state"] == "approved"
        assert "agentctl.client" in str(record.get("decided_by"))
        finished = run_prepared_job(client.store, job, approver=None)
        assert finished.state == "succeeded"
    assert (workspace / "out.txt").read_text() == "done\n"


def test_jobs_sharing_a_workspace_is_said_explicitly(tmp_path, workspace):
    recipe = write(tmp_path / "r.yaml", ASKS)
    with Client(tmp_path / "c.db") as client:
        shared = client.enqueue(recipe, workspace=workspace, shared_workspace=True)
        locking = client.enqueue(recipe, workspace=workspace)
        assert client.store.get_job(shared)["workspace_lock"] is None  # no lock to take
        assert client.store.get_job(locking)["workspace_lock"] == str(workspace.resolve())
