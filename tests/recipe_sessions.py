"""The scripted model sessions shipped beside recipes/, and how they are recorded.

No model provider is reachable where agentctl is built, so the sessions that let the README's
quickstart run without a key are written here by hand, served by tests/fakeserver.py, and
recorded through agentctl's real `--record` path. They are marked as scripted in the file:
they are not a real model's output.

Regenerate after changing a recipe's prompts or tools:
    .venv/bin/python tests/recipe_sessions.py
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parent
RECIPES = ROOT / "recipes"
SCRIPTED_MODEL = "scripted/not-a-real-model"
NOTE = (
    "SCRIPTED by the agentctl developers (tests/recipe_sessions.py), served by a fake "
    "server and recorded with --record: not a real model's output. Replay with --replay."
)

LABELS = """| issue | label | reason |
| --- | --- | --- |
| 101-crash-on-empty-config.md | bug | an empty config crashes with a traceback instead of an error |
| 102-export-to-csv.md | feature | asks for a new CSV output format |
| 103-proxy-settings.md | question | asks how proxy settings work |
"""

SESSIONS: dict[str, dict] = {
    "triage-issues": {
        "example": "triage",
        "script": [
            {
                "tool_calls": [
                    {
                        "name": "read_file",
                        "arguments": {"path": "issues/101-crash-on-empty-config.md"},
                    },
                    {"name": "read_file", "arguments": {"path": "issues/102-export-to-csv.md"}},
                    {"name": "read_file", "arguments": {"path": "issues/103-proxy-settings.md"}},
                ]
            },
            {
                "tool_calls": [
                    {"name": "write_file", "arguments": {"path": "LABELS.md", "content": LABELS}}
                ]
            },
            {"content": "Wrote LABELS.md: 1 bug, 1 feature, 1 question."},
        ],
        "expect": {"LABELS.md": LABELS},
    },
    "fix-failing-test": {
        "example": "calc",
        "script": [
            {"tool_calls": [{"name": "read_file", "arguments": {"path": "calc.py"}}]},
            # A first fix that is wrong on purpose, so the recording shows the check loop.
            {
                "tool_calls": [
                    {
                        "name": "edit_file",
                        "arguments": {
                            "path": "calc.py",
                            "old": "sum(numbers) / len(numbers) + 1",
                            "new": "sum(numbers) // len(numbers) + 1",
                        },
                    }
                ]
            },
            {"content": "Changed the division in average()."},
            {
                "tool_calls": [
                    {
                        "name": "edit_file",
                        "arguments": {
                            "path": "calc.py",
                            "old": "sum(numbers) // len(numbers) + 1",
                            "new": "sum(numbers) / len(numbers)",
                        },
                    }
                ]
            },
            {"content": "average() no longer adds 1 to the mean; the check passes."},
        ],
        "expect": {"calc.py": None},  # checked by the recipe's own check step
    },
}


def record_session(name: str, out: Path | None = None) -> Path:
    """Serve the script for recipe `name`, run the recipe with --record, mark it scripted."""
    from fakeserver import ScriptedOpenAIServer  # beside this file: tests/ is on the path

    session = SESSIONS[name]
    out = out or RECIPES / f"{name}.session.jsonl"
    with (
        tempfile.TemporaryDirectory() as tmp,
        ScriptedOpenAIServer(session["script"], exhausted={"status": 500}) as server,
    ):
        tmp_path = Path(tmp)
        workspace = tmp_path / "ws"
        shutil.copytree(RECIPES / "examples" / session["example"], workspace)
        recipe = (RECIPES / f"{name}.yaml").read_text()
        # Only the model settings change; prompts and tools, which replay checks, do not.
        recipe = re.sub(
            r"(?m)^models:\n  default:.*$",
            f'models:\n  default: {{model: openai/fake-model, api_base: "{server.base_url}"}}',
            recipe,
        )
        (tmp_path / "recipe.yaml").write_text(recipe)
        cassette = tmp_path / "session.jsonl"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "agentctl",
                "--db",
                str(tmp_path / "a.db"),
                "run",
                str(tmp_path / "recipe.yaml"),
                "--workspace",
                str(workspace),
                "--record",
                str(cassette),
                "--non-interactive",
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        if done.returncode != 0:
            raise SystemExit(f"recording {name} failed:\n{done.stdout}\n{done.stderr}")
        lines = [json.loads(line) for line in cassette.read_text().splitlines()]
    lines[0]["note"] = NOTE
    for entry in lines[1:]:
        entry["model"] = SCRIPTED_MODEL
        entry["response"]["model"] = SCRIPTED_MODEL
        entry["response"]["latency_ms"] = 0.0
    out.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
    return out


if __name__ == "__main__":
    for recipe_name in sys.argv[1:] or SESSIONS:
        print(record_session(recipe_name))
