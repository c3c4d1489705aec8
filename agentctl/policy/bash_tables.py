"""bashlex, imported with its LALR parser tables read from a file made at build time.

bashlex builds its parser with its own copy of PLY's yacc at import, and that copy never reads
the `parsetab.py` it writes: every process spent 0.15-0.3 s computing the same tables. This
module imports bashlex with `LRTable.lr_parse_table` answered from `bash_tables.json` (in this
package, as trusted as the code: a table file in a user-writable cache could be edited to make
a denied command parse as an allowed one). The file names the grammar it was made from (a hash
of every production and precedence rule); if bashlex's grammar differs (another version), the
tables are computed as before, so a stale file costs time, never correctness.

Regenerate after changing the bashlex version: `python -m agentctl.policy.bash_tables`.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # bashlex ships no type information: these name its classes (mypy reads them as Any).
    from bashlex.yacc import Grammar, LRTable

TABLES_FILE = Path(__file__).with_name("bash_tables.json")
# A yacc table as bashlex holds it: state -> {symbol: action or next state}.
ParseTable = dict[int, dict[str, int]]


def grammar_signature(grammar: Grammar) -> str:
    """A hash of what the tables are computed from: productions, precedence, start symbol."""
    text = "\n".join(
        [str(p) for p in grammar.Productions]
        + [repr(sorted(grammar.Precedence.items())), str(grammar.Start)]
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _read_tables(signature: str) -> tuple[ParseTable, ParseTable] | None:
    try:
        data = json.loads(TABLES_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if data.get("signature") != signature:
        return None
    action = dict(enumerate(data["action"]))
    goto = dict(enumerate(data["goto"]))
    return action, goto


def import_bashlex(tables: bool = True) -> ModuleType:
    """Import bashlex (once per process); with `tables`, its parser tables come from the file."""
    if "bashlex.parser" in sys.modules:
        return sys.modules["bashlex"]
    spec = importlib.util.find_spec("bashlex")
    if spec is None or spec.loader is None:
        raise ImportError("bashlex is not installed")
    package = importlib.util.module_from_spec(spec)
    # The package is registered before it runs, so `bashlex.yacc` can be imported and patched
    # before bashlex/__init__ imports the parser (which builds the tables).
    sys.modules["bashlex"] = package
    try:
        from bashlex import yacc

        compute = yacc.LRTable.lr_parse_table

        def lr_parse_table(self: LRTable) -> None:
            signature = grammar_signature(self.grammar)
            found = _read_tables(signature) if tables else None
            if found is None:
                compute(self)
                # As computed: bashlex.parser edits some entries of the parser built from them.
                _computed.update(
                    signature=signature,
                    action=copy.deepcopy(self.lr_action),
                    goto=copy.deepcopy(self.lr_goto),
                )
            else:
                self.lr_action, self.lr_goto = found

        yacc.LRTable.lr_parse_table = lr_parse_table
        try:
            spec.loader.exec_module(package)
        finally:
            yacc.LRTable.lr_parse_table = compute
    except BaseException:
        for name in [n for n in sys.modules if n == "bashlex" or n.startswith("bashlex.")]:
            del sys.modules[name]
        raise
    return package


_computed: dict[str, Any] = {}


def compute_tables() -> dict[str, Any]:
    """The tables as bashlex's yacc computes them, in the file's form. Run it in a process
    that has not imported bashlex yet."""
    if "bashlex" in sys.modules:
        raise RuntimeError("compute_tables() needs a process that has not imported bashlex")
    import_bashlex(tables=False)
    states = range(len(_computed["action"]))
    return {
        "signature": _computed["signature"],
        "action": [_computed["action"][s] for s in states],
        "goto": [_computed["goto"].get(s, {}) for s in states],
    }


def write_tables() -> None:
    TABLES_FILE.write_text(json.dumps(compute_tables(), separators=(",", ":")) + "\n")


if __name__ == "__main__":
    write_tables()
    print(f"wrote {TABLES_FILE}")
