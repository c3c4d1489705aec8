"""What `agentctl init` writes: a commented recipe and policy to start from, or one of the
shipped examples (recipe, its scripted session, and the files it works on).

Everything comes from agentctl/shipped/, the package data that wheels and sdists carry, so an
installed agentctl needs no clone of the repository. Files are never overwritten unless the
caller says so.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from agentctl.errors import UsageError

SHIPPED = Path(__file__).resolve().parent / "shipped"
_SCHEMA_HEADER = re.compile(r"^# yaml-language-server: \$schema=\S+$", re.MULTILINE)


@dataclass(frozen=True)
class Example:
    recipe: str  # under shipped/recipes/
    session: str  # its scripted model session, beside it
    files: str  # the folder (under shipped/recipes/) whose contents it works on
    about: str

    def command(self) -> str:
        return f"agentctl run {self.recipe} --replay {self.session}"


EXAMPLES = {
    "triage": Example(
        "triage-issues.yaml",
        "triage-issues.session.jsonl",
        "examples/triage",
        "triage three issue reports into LABELS.md",
    ),
    "fix-failing-test": Example(
        "fix-failing-test.yaml",
        "fix-failing-test.session.jsonl",
        "examples/calc",
        "fix a failing test in calc.py, checked by running it",
    ),
}


def schema_path(kind: str) -> Path:
    return SHIPPED / "schema" / f"{kind}.json"


def schema_copy_name(kind: str) -> str:
    """The schema's file name beside what `init` writes (a path that survives a commit)."""
    return f"{kind}.schema.json"


def _with_schema_header(text: str, kind: str) -> str:
    """Point the editor's schema line at the copy written beside the file: relative, so it
    holds on every machine that checks the folder out (an installed package's path would
    not)."""
    line = f"# yaml-language-server: $schema={schema_copy_name(kind)}"
    return _SCHEMA_HEADER.sub(line, text, count=1)


def _schema_files(kinds: list[str]) -> list[tuple[Path, str, str | None]]:
    return [(schema_path(kind), schema_copy_name(kind), None) for kind in kinds]


def _plan_example(example: Example) -> list[tuple[Path, str, str | None]]:
    """(source, relative target, schema kind to re-point or None) for every file."""
    recipes = SHIPPED / "recipes"
    plan: list[tuple[Path, str, str | None]] = [
        (recipes / example.recipe, example.recipe, "recipe"),
        (recipes / example.session, example.session, None),
    ]
    plan += _schema_files(["recipe"])
    base = recipes / example.files
    for source in sorted(base.rglob("*")):
        if source.is_file() and "__pycache__" not in source.parts:
            plan.append((source, source.relative_to(base).as_posix(), None))
    return plan


def _plan_starter() -> list[tuple[Path, str, str | None]]:
    return [
        (SHIPPED / "starter" / "recipe.yaml", "recipe.yaml", "recipe"),
        (SHIPPED / "starter" / "policy.yaml", "policy.yaml", "policy"),
        *_schema_files(["recipe", "policy"]),
    ]


def write_start_files(
    folder: Path, example: str | None = None, *, force: bool = False
) -> list[str]:
    """Write the starter (or the named example) into `folder`; the relative paths written."""
    if example is not None and example not in EXAMPLES:
        raise UsageError(
            f"no example named {example!r}",
            "choose one of: " + ", ".join(EXAMPLES) + " (`agentctl init --list` describes them)",
        )
    plan = _plan_example(EXAMPLES[example]) if example else _plan_starter()
    missing = [str(source) for source, _, _ in plan if not source.is_file()]
    if missing:  # a broken install: say so instead of writing half an example
        raise UsageError(
            f"agentctl's shipped files are missing: {', '.join(missing)}",
            "reinstall agentctl-jobs (pip install --force-reinstall agentctl-jobs)",
        )
    existing = [target for _, target, _ in plan if (folder / target).exists()]
    if existing and not force:
        raise UsageError(
            f"{', '.join(existing)} already {'exists' if len(existing) == 1 else 'exist'}"
            f" in {folder}",
            "run it in an empty folder, or add --force to overwrite",
        )
    for source, target, kind in plan:
        destination = folder / target
        destination.parent.mkdir(parents=True, exist_ok=True)
        if kind is None:
            shutil.copyfile(source, destination)
        else:
            text = source.read_text(encoding="utf-8")
            destination.write_text(_with_schema_header(text, kind), encoding="utf-8")
    return [target for _, target, _ in plan]
