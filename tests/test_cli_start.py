"""Getting started: `--version`, `init` (starter and shipped examples), `schema`, `completion`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import agentctl_env, assert_bad_input, invoke

ROOT = Path(__file__).resolve().parent.parent


def test_version_comes_from_the_project_metadata():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout == f"agentctl {declared['version']} ({declared['name']})\n"
    assert declared["name"] == "agentctl-jobs"
    import agentctl

    assert agentctl.__version__ == declared["version"]
    source = (ROOT / "agentctl" / "__init__.py").read_text()
    assert declared["version"] not in source  # no second, hard-coded copy


def test_init_writes_a_commented_recipe_and_policy_that_validate(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("init")
    assert result.exit_code == 0, result.stderr
    recipe, policy = tmp_path / "recipe.yaml", tmp_path / "policy.yaml"
    assert recipe.read_text().count("\n# ") >= 5 and policy.read_text().count("\n# ") >= 3
    assert invoke("validate", str(recipe), str(policy)).exit_code == 0
    assert_bad_input(invoke("init"), "already exist", "--force")
    assert invoke("init", "--force").exit_code == 0


@pytest.mark.parametrize("name", ["triage", "fix-failing-test"])
def test_init_example_runs_with_no_key_from_the_folder_it_wrote(name, tmp_path, monkeypatch):
    from agentctl.starters import EXAMPLES

    tmp_path = tmp_path / "example"  # the workspace; the job database stays outside it
    tmp_path.mkdir()
    monkeypatch.chdir(tmp_path)
    written = invoke("init", "--example", name)
    assert written.exit_code == 0, written.stderr
    example = EXAMPLES[name]
    assert example.command() in written.stdout
    header = (tmp_path / example.recipe).read_text().splitlines()[0]
    assert header == "# yaml-language-server: $schema=recipe.schema.json"
    assert (tmp_path / "recipe.schema.json").read_text() == invoke("schema", "recipe").stdout
    args = example.command().split()[1:]
    ran = invoke(*args)
    assert ran.exit_code == 0, ran.stdout + ran.stderr
    assert "succeeded" in ran.stdout


def test_init_names_the_examples_there_are(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_bad_input(invoke("init", "--example", "nope"), "triage", "fix-failing-test")
    listed = invoke("init", "--list")
    assert "triage" in listed.stdout and "fix-failing-test" in listed.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["recipe", "policy"])
def test_committed_schemas_match_the_generated_ones(kind):
    result = invoke("schema", kind)
    assert result.exit_code == 0
    committed = (ROOT / "schema" / f"{kind}.json").read_text()
    assert result.stdout == committed, f"regenerate: agentctl schema {kind} > schema/{kind}.json"
    assert json.loads(result.stdout)["$schema"].startswith("https://json-schema.org/")


def test_shipped_files_carry_the_schema_header_and_match_the_schema():
    import jsonschema
    import yaml

    files = [(p, "recipe") for p in (ROOT / "recipes").glob("*.yaml")]
    files += [(p, "policy") for p in (ROOT / "policies").glob("*.yaml")]
    files += [(ROOT / "agentctl/shipped/starter/recipe.yaml", "recipe")]
    files += [(ROOT / "agentctl/shipped/starter/policy.yaml", "policy")]
    assert len(files) >= 7
    for path, kind in files:
        first = path.read_text().splitlines()[0]
        assert first == f"# yaml-language-server: $schema=../schema/{kind}.json", path
        assert (path.parent / "../schema" / f"{kind}.json").resolve().is_file()
        schema = json.loads((ROOT / "schema" / f"{kind}.json").read_text())
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)


def test_the_schema_rejects_what_the_loader_rejects():
    import jsonschema

    from agentctl.schemas import build_schema

    schema = build_schema("recipe")
    good = {
        "version": 1,
        "name": "x",
        "steps": [{"id": "a", "run": "ls"}],
        "limits": {"timeout": "10m"},
    }
    jsonschema.validate(good, schema)
    jsonschema.validate({"version": 1, "name": "x", "instructions": "Do it."}, schema)
    for bad in (
        {**good, "stpes": []},  # unknown key
        {"version": 1, "name": "x"},  # neither steps nor instructions
        {**good, "version": 2},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


def test_init_points_the_schema_line_at_a_copy_beside_the_files(tmp_path, monkeypatch):
    """A path into the installing machine's site-packages breaks on the next machine that
    checks the folder out; a relative one to a file written beside it does not."""
    monkeypatch.chdir(tmp_path)
    assert invoke("init").exit_code == 0
    for kind in ("recipe", "policy"):
        first = (tmp_path / f"{kind}.yaml").read_text().splitlines()[0]
        assert first == f"# yaml-language-server: $schema={kind}.schema.json"
        copy = json.loads((tmp_path / f"{kind}.schema.json").read_text())
        assert copy == json.loads(invoke("schema", kind).stdout)
    assert "site-packages" not in (tmp_path / "recipe.yaml").read_text()


def _properties(schema: dict) -> list[tuple[str, dict]]:
    """(where, spec) for every property of the root and of every $defs model."""
    out = [(f"root.{n}", spec) for n, spec in schema["properties"].items()]
    for model, node in schema.get("$defs", {}).items():
        out += [(f"{model}.{n}", spec) for n, spec in node.get("properties", {}).items()]
    return out


@pytest.mark.parametrize("kind", ["recipe", "policy"])
def test_every_schema_property_is_described_for_editors(kind):
    from agentctl.schemas import build_schema

    properties = _properties(build_schema(kind))
    assert len(properties) > 30
    undescribed = [where for where, spec in properties if not spec.get("description")]
    assert undescribed == [], "add them to agentctl/schema_docs.py"
    examples = [where for where, spec in properties if spec.get("examples")]
    assert len(examples) >= 5


def test_schema_examples_are_valid_values():
    """An example an editor offers must pass the schema it is shown in."""
    import jsonschema

    from agentctl.schemas import build_schema

    for kind in ("recipe", "policy"):
        schema = build_schema(kind)
        for where, spec in _properties(schema):
            for example in spec.get("examples", []):
                sub = {**spec, "$defs": schema.get("$defs", {})}
                sub.pop("examples")
                try:
                    jsonschema.validate(example, sub)
                except jsonschema.ValidationError as error:
                    raise AssertionError(f"{kind} {where}: {example!r}") from error


def test_one_agent_tool_list_passes_the_schema():
    import jsonschema

    from agentctl.schemas import build_schema

    one = {"version": 1, "name": "x", "instructions": "Do it.", "tools": ["read_file"]}
    jsonschema.validate(one, build_schema("recipe"))


def test_unknown_schema_kind():
    assert_bad_input(invoke("schema", "job"), "recipe", "policy")


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts(shell):
    result = invoke("completion", shell)
    assert result.exit_code == 0
    assert "_AGENTCTL_COMPLETE" in result.stdout and "agentctl" in result.stdout


def test_unknown_completion_shell():
    assert_bad_input(invoke("completion", "tcsh"), "bash, zsh or fish")


@pytest.mark.slow
@pytest.mark.e2e
def test_bash_completion_completes_commands_and_options(tmp_path):
    env = agentctl_env(tmp_path / "a.db", _AGENTCTL_COMPLETE="complete_bash")

    def complete(*words: str) -> list[str]:
        line = ["agentctl", *words]
        result = subprocess.run(
            [sys.executable, "-m", "agentctl"],
            env={**env, "COMP_WORDS": " ".join(line), "COMP_CWORD": str(len(line) - 1)},
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.split()

    assert complete("ru") == ["run"]
    assert "--state" in complete("jobs", "--st")
    assert {"approve", "deny"} <= set(complete(""))
    assert os.environ.get("_AGENTCTL_COMPLETE") is None
