"""Start-up's collector settings (agentctl.gc_tuning): fewer passes while modules load, then the
loaded objects frozen and the thresholds back. Each case runs in a fresh interpreter: freezing
is for the whole process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _python(code: str, env: dict | None = None) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_loading_then_loaded_freezes_and_restores():
    got = _python(
        "import gc, json\n"
        "from agentctl import gc_tuning\n"
        "before = gc.get_threshold()\n"
        "gc_tuning.loaded()  # without loading(): a library user's settings are left alone\n"
        "untouched = gc.get_freeze_count() == 0 and gc.get_threshold() == before\n"
        "gc_tuning.loading(); gc_tuning.loading()\n"
        "during = gc.get_threshold()\n"
        "gc_tuning.loaded(); gc_tuning.loaded()\n"
        "print(json.dumps({'before': before, 'during': during, 'after': gc.get_threshold(),\n"
        "  'untouched': untouched, 'frozen': gc.get_freeze_count()}))\n"
    )
    assert got["untouched"] is True
    assert got["during"][0] == 20_000 and got["during"][1:] == got["before"][1:]
    assert got["after"] == got["before"]
    assert got["frozen"] > 1_000  # the interpreter's own modules, at least


@pytest.mark.slow
def test_litellm_loaded_ends_start_up():
    got = _python(
        "import gc, json\n"
        "from agentctl import gc_tuning\n"
        "from agentctl.models.loader import _load_litellm\n"
        "before = gc.get_threshold(); gc_tuning.loading()\n"
        "_load_litellm()\n"
        "print(json.dumps({'same': gc.get_threshold() == before, 'frozen': gc.get_freeze_count()}))\n"
    )
    assert got["same"] is True
    assert got["frozen"] > 200_000  # litellm's modules are out of the collector's sight


def test_a_command_that_loads_no_model_ends_start_up_before_it_runs(tmp_path):
    # `agentctl jobs` never imports litellm: its start-up is over once the command starts.
    got = _python(
        "import gc, json, sys\n"
        f"sys.argv = ['agentctl', '--db', {str(tmp_path / 'a.db')!r}, 'jobs', '--json']\n"
        "before = gc.get_threshold()\n"
        "from agentctl.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps({'same': gc.get_threshold() == before, 'frozen': gc.get_freeze_count()}))\n"
    )
    assert got["same"] is True and got["frozen"] > 0


def test_a_replayed_run_ends_start_up_when_its_model_client_is_made():
    # resume and a worker's job build their model client late; a replay never loads litellm.
    session = ROOT / "recipes" / "triage-issues.session.jsonl"
    got = _python(
        "import gc, json, sys\n"
        "from agentctl import gc_tuning\n"
        "from agentctl.models.calls import build_model_client\n"
        "before = gc.get_threshold(); gc_tuning.loading()\n"
        f"build_model_client({{}}, replay={str(session)!r})\n"
        "print(json.dumps({'same': gc.get_threshold() == before,\n"
        "  'litellm': 'litellm' in sys.modules, 'frozen': gc.get_freeze_count()}))\n"
    )
    assert got == {"same": True, "litellm": False, "frozen": got["frozen"]} and got["frozen"] > 0
