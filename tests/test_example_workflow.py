"""The shipped GitHub Actions example (examples/github-actions/agentctl.yml): its shape, and
its run step's shell logic executed with a stand-in agentctl, as a runner would."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

WORKFLOW = Path(__file__).resolve().parent.parent / "examples" / "github-actions" / "agentctl.yml"


def _workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def _step(job: str, name: str) -> dict:
    return next(s for s in _workflow()["jobs"][job]["steps"] if s.get("name") == name)


def test_every_job_has_a_timeout_and_runs_are_serialised():
    flow = _workflow()
    for name, job in flow["jobs"].items():
        assert isinstance(job.get("timeout-minutes"), int), name
    assert "github.event.pull_request.number" in flow["concurrency"]["group"]
    assert "required reviewers" in WORKFLOW.read_text().lower()
    assert "paid plan" in WORKFLOW.read_text()


def test_a_successful_run_keeps_its_change():
    keep = _step("run", "Keep the change")
    assert "agentctl diff" in keep["run"] and "$RUNNER_TEMP" in keep["run"]
    assert "create-pull-request" in WORKFLOW.read_text()  # the commented option


STAND_IN = """#!/bin/sh
# a stand-in agentctl: records its arguments, prints a job, exits with $FAKE_CODE
echo "$@" > "$FAKE_ARGS"
echo '{"id": "job123abc", "state": "awaiting_approval"}'
exit "$FAKE_CODE"
"""


@pytest.mark.parametrize("code,parked", [(0, "false"), (3, "true")])
def test_the_run_step_writes_job_json_outside_the_checkout(tmp_path, code, parked):
    checkout, temp, bin_dir = tmp_path / "checkout", tmp_path / "runner-temp", tmp_path / "bin"
    for folder in (checkout, temp / "agentctl", bin_dir):
        folder.mkdir(parents=True)
    (bin_dir / "agentctl").write_text(STAND_IN)
    (bin_dir / "agentctl").chmod(0o755)
    outputs = tmp_path / "github_output"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "RUNNER_TEMP": str(temp),
        "GITHUB_OUTPUT": str(outputs),
        "RECIPE": "recipes/fix-failing-test.yaml",
        "FAKE_CODE": str(code),
        "FAKE_ARGS": str(tmp_path / "args"),
        "GITHUB_RUN_ID": "42",
        "GITHUB_JOB": "run",
    }
    script = _step("run", "Run the recipe")["run"]
    done = subprocess.run(["bash", "-e", "-c", script], cwd=checkout, env=env, text=True,
                          capture_output=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert list(checkout.iterdir()) == []  # nothing written into the agent's workspace
    assert (temp / "agentctl" / "job.json").is_file()
    said = dict(line.split("=", 1) for line in outputs.read_text().split())
    assert said == {"job_id": "job123abc", "parked": parked}
    args = (tmp_path / "args").read_text()
    assert "--non-interactive" in args and "--json" in args


def test_the_decide_step_decides_the_whole_parked_turn_at_once():
    # Every action of one model turn that needs a person parks together: one manual decision
    # per turn, not one workflow run per action (issue 22, item 8).
    decide = _step("decide", "Decide")
    assert '"$DECISION" "$JOB_ID" --all' in decide["run"]
