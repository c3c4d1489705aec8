"""bashlex's parser tables come from a file made at build time; they must be what bashlex's
own yacc computes, or the policy would parse commands with a different grammar."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from agentctl.policy import bash_tables
from agentctl.policy.bashgrammar import bashlex

ROOT = Path(__file__).resolve().parent.parent


def test_shipped_tables_are_what_bashlex_computes():
    code = (
        "import json, sys\n"
        "from agentctl.policy.bash_tables import compute_tables\n"
        "json.dump(compute_tables(), sys.stdout)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    fresh = json.loads(out.stdout)
    shipped = json.loads(bash_tables.TABLES_FILE.read_text())
    assert fresh["signature"] == shipped["signature"], (
        "bashlex's grammar changed: run `python -m agentctl.policy.bash_tables`"
    )
    assert fresh == shipped


def test_a_stale_table_file_is_ignored_and_the_tables_computed(tmp_path):
    stale = tmp_path / "bash_tables.json"
    data = json.loads(bash_tables.TABLES_FILE.read_text())
    # Tables for another grammar: following them would parse commands wrongly.
    stale.write_text(json.dumps(dict(data, signature="0" * 64, action=[{}], goto=[{}])))
    code = (
        "import pathlib, sys\n"
        "import agentctl.policy.bash_tables as t\n"
        "t.TABLES_FILE = pathlib.Path(sys.argv[1])\n"
        "b = t.import_bashlex()\n"
        "print(len(b.parser.yaccparser.action), b.parse('a && b')[0].kind)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(stale)], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(len(data["action"])), "list"]


def test_the_parser_built_from_the_file_parses_like_bash():
    parts = bashlex.parse("ls -la | grep x && echo $(rm -rf /) > out")[0].parts
    assert [p.kind for p in parts] == ["pipeline", "operator", "command"]
    assert bashlex.parser.yaccparser.action is not None
