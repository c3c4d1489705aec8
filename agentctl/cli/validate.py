"""`agentctl validate FILE...`: check recipes and policies (with their tests) without running
anything."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from agentctl.cli import _write_error, app
from agentctl.cli.options import DbOption, DebugOption
from agentctl.errors import AgentctlError

_TEST_HINT = "fix the rule or the test's expect:, then run `agentctl validate FILE`"


def _is_policy_file(path: Path) -> bool:
    """A YAML file whose top level has rules: or default: and no steps:/instructions:."""
    from agentctl.policy.rules import is_policy_data
    from agentctl.yamlload import load_yaml

    try:
        data, _ = load_yaml(path.read_text(encoding="utf-8"), str(path))
    except (AgentctlError, OSError, UnicodeDecodeError):
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


def _validate_policy(path: Path) -> int:
    """Load a policy and run its tests; print ok or one error per failing test. Bad count."""
    from agentctl.policy.rules import load_policy, run_policy_tests

    policy = load_policy(path)
    with tempfile.TemporaryDirectory(prefix="run-", dir=_scratch_parent()) as folder:
        failures = run_policy_tests(policy, Path(folder))
    for failure in failures:
        _write_error(failure.message(), _TEST_HINT)
    if failures:
        return 1
    print(
        f"ok {path}: policy {policy.name}, {len(policy.rules)} rules, "
        f"{len(policy.tests)} tests pass"
    )
    return 0


@app.command()
def validate(
    files: Annotated[
        list[Path], typer.Argument(help="Recipe and policy files.", metavar="FILE...")
    ],
    db: DbOption = None,
    debug: DebugOption = False,
) -> None:
    """Check recipes and policies, and run each policy's own tests. Runs nothing.

    Recipes: schema, types, duplicate keys, templates. Policies: schema, then their `tests:`.

    Exit 0 when every file is valid and every test passes, else 2 with an `error:` line per
    bad file or failing test naming file:line:column.
    """
    from agentctl.engine.launch import load_policy_snapshots
    from agentctl.recipe.schema import load_recipe

    bad = 0
    for path in files:
        try:
            if _is_policy_file(path):
                bad += _validate_policy(path)
                continue
            loaded = load_recipe(path)
            load_policy_snapshots(loaded, [])  # its policy: must exist and be valid, as for run
        except AgentctlError as error:
            bad += 1
            _write_error(error.message, error.hint)
            continue
        steps = loaded.recipe.steps
        print(f"ok {path}: recipe {loaded.recipe.name!r}, {len(steps)} step(s)")
    if bad:
        raise typer.Exit(2)
