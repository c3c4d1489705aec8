"""`agentctl validate FILE...`: check recipes and policies (with their tests) without running
anything."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from agentctl.cli.app import _write_error, app
from agentctl.cli.options import DbOption, DebugOption, JsonOption
from agentctl.errors import AgentctlError
from agentctl.ui.words import plural

_TEST_HINT = "fix the rule or the test's expect:, then run `agentctl validate FILE`"


def _is_policy_file(path: Path) -> bool:
    """A YAML file whose top level has rules: or default: and no steps:/instructions:.

    Only a guess at the kind (the loader of that kind then reports every problem), so it uses
    the C parser when there is one: a 20,000-step recipe is then parsed in full only once."""
    import yaml

    from agentctl.policy.rules import is_policy_data

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except (yaml.YAMLError, OSError, UnicodeDecodeError, RecursionError, ValueError):
        return False  # the recipe loader reports the problem in its words
    return is_policy_data(data)


def _scratch_parent() -> str | None:
    """Where test workspaces go: the user cache dir rather than /tmp, which policies often
    name as scratch space (a test's `../x` would then land in an allowed place)."""
    import platformdirs

    folder = Path(platformdirs.user_cache_dir("agentctl", appauthor=False)) / "policy-tests"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return str(folder)


def _problem(error: AgentctlError) -> dict[str, Any]:
    where = {k: getattr(error, k, None) for k in ("file", "line", "column")}
    return {"message": error.message, "hint": error.hint, **where}


def _errors_of(error: AgentctlError) -> list[dict[str, Any]]:
    """A load error and the file's other problems (a RecipeError's `also`), in file order."""
    return [_problem(e) for e in [error, *getattr(error, "also", [])]]


def _validate_policy(path: Path) -> dict[str, Any]:
    """Load a policy and run its tests."""
    from agentctl.policy.rules import load_policy
    from agentctl.policy.selftest import run_policy_tests

    policy = load_policy(path)
    with tempfile.TemporaryDirectory(prefix="run-", dir=_scratch_parent()) as folder:
        failures = run_policy_tests(policy, Path(folder))
    return {
        "kind": "policy",
        "name": policy.name,
        "rules": len(policy.rules),
        "tests": len(policy.tests),
        "errors": [
            {"message": f.message(), "hint": _TEST_HINT, "file": str(path)} for f in failures
        ],
    }


def validate_file(path: Path) -> dict[str, Any]:
    """One file's verdict: its kind, name, counts, and every error found (none when ok)."""
    from agentctl.engine.policy_files import load_policy_snapshots
    from agentctl.recipe.load import load_recipe

    entry: dict[str, Any] = {"file": str(path)}
    if not path.is_file():  # a path that names no file is a bad invocation, not a finding
        what = "is a directory, not a recipe or policy file" if path.is_dir() else "not found"
        problem = {"message": f"{path}: {what}", "hint": "pass recipe or policy .yaml files"}
        return {
            **entry,
            "kind": None,
            "errors": [{**problem, "file": str(path)}],
            "ok": False,
            "usage": True,
        }
    try:
        if _is_policy_file(path):
            entry.update(_validate_policy(path))
        else:
            loaded = load_recipe(path)
            load_policy_snapshots(loaded, [])  # its policy: must exist and be valid, as for run
            entry.update(
                kind="recipe", name=loaded.recipe.name, steps=len(loaded.recipe.steps), errors=[]
            )
    except AgentctlError as error:
        entry.setdefault("kind", None)
        entry["errors"] = _errors_of(error)
    entry["ok"] = not entry["errors"]
    return entry


@app.command()
def validate(
    files: Annotated[
        list[Path], typer.Argument(help="Recipe and policy files.", metavar="FILE...")
    ],
    json_out: JsonOption = False,
    db: DbOption = None,
    debug: DebugOption = False,
) -> None:
    """Check recipes and policies, and run each policy's own tests. Runs nothing.

    Recipes: schema, types, duplicate keys, templates. Policies: schema, then their `tests:`.

    Every problem of each file is reported, not only the first: an `error:` line per
    problem or failing test, naming file:line:column, with a did-you-mean hint for a
    mistyped key, tool, template name or model role. `--json` prints
    {"ok": ..., "files": [...]} with each file's errors.

    Exit 0 when every file is valid and every test passes; 1 when a file has findings (as
    ruff and actionlint do); 2 for a bad invocation (a path that names no file).
    """
    results = [validate_file(path) for path in files]
    ok = all(entry["ok"] for entry in results)
    if json_out:
        print(json.dumps({"ok": ok, "files": results}, indent=2, ensure_ascii=False))
    else:
        for entry in results:
            for error in entry["errors"]:
                _write_error(error["message"], error["hint"])
            if entry["ok"] and entry["kind"] == "policy":
                print(
                    f"ok {entry['file']}: policy {entry['name']}, {entry['rules']} rules, "
                    f"{entry['tests']} tests pass"
                )
            elif entry["ok"]:
                steps = plural(entry["steps"], "step")
                print(f"ok {entry['file']}: recipe {entry['name']!r}, {steps}")
    if any(entry.get("usage") for entry in results):
        raise typer.Exit(2)
    if not ok:
        raise typer.Exit(1)
