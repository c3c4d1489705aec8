"""The wheel people install carries everything the quickstart needs, with no clone around.

Builds the sdist and, from it, the wheel (`python -m build`, offline: `--no-isolation`), makes
a fresh venv outside the checkout, installs the wheel there with `--no-deps --no-index`
(agentctl's dependencies come from this interpreter's site-packages through a .pth line, so
it works where nothing can be downloaded), and runs the README's quickstart with the
installed command from an empty folder: `agentctl init --example triage`, then `agentctl run`
with the scripted session and no key. It fails if any shipped file is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest
from conftest import PROVIDER_KEYS

ROOT = Path(__file__).resolve().parent.parent
SKIP = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", "*.egg-info", "build", "dist", ".*_cache", ".hypothesis", "*.db"
)


def shipped_files() -> set[str]:
    base = ROOT / "agentctl" / "shipped"
    return {
        p.relative_to(base).as_posix()
        for p in base.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def run(args, **kw) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, **kw)
    assert result.returncode == 0, (args, result.stdout[-3000:], result.stderr[-3000:])
    return result


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """sdist and wheel, built from a copy of the checkout (the build writes egg-info there)."""
    work = tmp_path_factory.mktemp("build")
    source = work / "src"
    shutil.copytree(ROOT, source, symlinks=True, ignore=SKIP)
    out = work / "dist"
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)])
    return out


@pytest.mark.slow
@pytest.mark.e2e
def test_sdist_and_wheel_carry_every_shipped_file(dist):
    wanted = shipped_files()
    assert {"recipes/triage-issues.yaml", "policies/ci-safe.yaml", "schema/recipe.json"} <= wanted
    (wheel,) = dist.glob("agentctl_jobs-*.whl")
    (sdist,) = dist.glob("agentctl[-_]jobs-*.tar.gz")
    in_wheel = {
        name.split("agentctl/shipped/", 1)[1]
        for name in zipfile.ZipFile(wheel).namelist()
        if name.startswith("agentctl/shipped/") and not name.endswith("/")
    }
    assert wanted - in_wheel == set(), "missing from the wheel"
    with tarfile.open(sdist) as archive:
        in_sdist = {
            name.split("/agentctl/shipped/", 1)[1]
            for name in archive.getnames()
            if "/agentctl/shipped/" in name and archive.getmember(name).isfile()
        }
    assert wanted - in_sdist == set(), "missing from the sdist"


@pytest.mark.slow
@pytest.mark.e2e
def test_the_quickstart_runs_from_an_installed_wheel_outside_the_checkout(dist, tmp_path):
    (wheel,) = dist.glob("agentctl_jobs-*.whl")
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    purelib = run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])
    site = Path(purelib.stdout.strip())
    # The dependencies, offline: this interpreter's site-packages, after the venv's own.
    (site / "deps-from-the-test-interpreter.pth").write_text(
        sysconfig.get_path("purelib") + "\n", encoding="utf-8"
    )
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    run([*pip, "install", "--no-deps", "--no-index", "--no-compile", str(wheel)])

    folder = tmp_path / "quickstart"
    folder.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in (*PROVIDER_KEYS, "PYTHONPATH")}
    env.update(AGENTCTL_DB=str(tmp_path / "agentctl.db"), CI="true")
    agentctl = str(venv / "bin" / "agentctl")

    where = run(
        [str(python), "-c", "import agentctl; print(agentctl.__file__)"], env=env, cwd=folder
    )
    assert where.stdout.strip().startswith(str(site)), where.stdout  # not the checkout
    version = run([agentctl, "--version"], env=env, cwd=folder)
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert version.stdout.strip() == f"agentctl {declared} (agentctl-jobs)"  # from metadata

    run([agentctl, "init", "--example", "triage"], env=env, cwd=folder)
    ran = run(
        [agentctl, "run", "triage-issues.yaml", "--replay", "triage-issues.session.jsonl"],
        env=env,
        cwd=folder,
    )
    assert "succeeded" in ran.stdout
    assert "| 102-export-to-csv.md | feature |" in (folder / "LABELS.md").read_text()

    installed = Path(where.stdout.strip()).parent / "shipped"
    policies = sorted(str(p) for p in (installed / "policies").glob("*.yaml"))
    assert len(policies) >= 3
    run([agentctl, "validate", *policies], env=env, cwd=folder)
