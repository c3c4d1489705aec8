"""Every test gets its own database, no provider keys, and no way to reach a real provider."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from scripted import ScriptedModel

from agentctl.engine.jobs import create_job
from agentctl.engine.run import RunnerDeps, run_job
from agentctl.recipe.load import load_recipe_text
from agentctl.recipe.params import parse_params
from agentctl.store import Store
from agentctl.store.sqlite import SQLiteStore

HERE = Path(__file__).resolve().parent
PROVIDER_KEYS = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "MISTRAL_API_KEY",
    "GROQ_API_KEY",
    "AZURE_API_KEY",
    "COHERE_API_KEY",
    "TOGETHER_API_KEY",
    "OPENROUTER_API_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AGENTCTL_MODEL",
)

# Property tests check what is decided, not how fast: a 2-core machine under load ran one
# example in 310 ms against hypothesis's 200 ms deadline and failed a correct test.
settings.register_profile("agentctl", deadline=None)
settings.load_profile("agentctl")

_real_connect = socket.socket.connect


def _loopback_only(self, address):
    host = address[0] if isinstance(address, tuple) else None
    if host is not None and self.family in (socket.AF_INET, socket.AF_INET6):
        try:
            if not ipaddress.ip_address(host).is_loopback:
                raise AssertionError(
                    f"a test tried to reach {host}: tests never call a real"
                    " model provider or any outside host"
                )
        except ValueError:
            raise AssertionError(f"a test tried to reach {host!r}") from None
    return _real_connect(self, address)


def pytest_addoption(parser):
    parser.addoption(
        "--run-slow",
        action="store_true",
        help="also run the tests marked slow (subprocesses, terminals, servers); CI=true does",
    )


def pytest_collection_modifyitems(config, items):
    """A bare `pytest` is the quick loop (the tests not marked slow, a few minutes on 2
    cores); `--run-slow`, CI=true, a `-m` expression or named files/tests run what they say."""
    named = config.args_source != pytest.Config.ArgsSource.TESTPATHS
    if config.getoption("--run-slow") or IN_CI or config.getoption("-m") or named:
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTCTL_DB", str(tmp_path / "agentctl.db"))
    # `run --queue`'s cache of validated recipes (agentctl/quick/cache.py): the test's own.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    for key in PROVIDER_KEYS:
        monkeypatch.delenv(key, raising=False)
    for name in ("CI", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)
    yield


@pytest.fixture
def workspace(tmp_path) -> Path:
    folder = tmp_path / "ws"
    folder.mkdir()
    return folder


def agentctl_env(db: Path | str, **extra: str) -> dict[str, str]:
    """The environment for running agentctl in a subprocess."""
    env = {k: v for k, v in os.environ.items() if k not in PROVIDER_KEYS}
    env.update(AGENTCTL_DB=str(db), LITELLM_LOCAL_MODEL_COST_MAP="True", PYTHONUNBUFFERED="1")
    for name in ("CI", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY"):
        env.pop(name, None)
    env.update(extra)
    return env


# -- the command line, in this process and in a subprocess -------------------------------


def invoke(*args: str, **kw: Any):
    """`agentctl ARGS...` in this process (typer's CliRunner); `kw` as `CliRunner.invoke`'s."""
    from typer.testing import CliRunner

    from agentctl.cli import app

    return CliRunner().invoke(app, list(args), **kw)


def agentctl(
    args: Sequence[str],
    db: Path | str,
    cwd: Path,
    *,
    crash: str | None = None,
    timeout: float = 120,
    **env: str,
) -> subprocess.CompletedProcess:
    """`agentctl ARGS...` in a subprocess on the database `db` (stdin closed, output captured
    as text); `env` is added to `agentctl_env`. `crash` names the point at which
    `crash_harness.py` SIGKILLs it."""
    if crash:
        env["AGENTCTL_CRASH_AT"] = crash
        command = [sys.executable, str(HERE / "crash_harness.py"), *args]
    else:
        command = [sys.executable, "-m", "agentctl", *args]
    return subprocess.run(
        command,
        env=agentctl_env(db, **env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def start_agentctl(args: Sequence[str], db: Path | str, cwd: Path, **env: str) -> subprocess.Popen:
    """`agentctl ARGS...` started in a subprocess: stdin closed, stdout and stderr piped (text)."""
    return subprocess.Popen(
        [sys.executable, "-m", "agentctl", *args],
        env=agentctl_env(db, **env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )


# A recipe whose one step changes a tracked file and adds one (the git-workspace tests).
EDIT_RECIPE = """version: 1
name: edit
steps:
  - id: edit
    run: printf 'fixed\\n' > calc.py && printf 'note\\n' > NOTES.md
"""


def git(folder: Path, *args: str) -> str:
    """Run git in `folder` with a throwaway identity; its stdout, stripped."""
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=folder, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def git_repo(folder: Path) -> Path:
    """A new repository in `folder` with one commit on main (calc.py: "broken")."""
    folder.mkdir()
    git(folder, "init", "-q", "-b", "main")
    (folder / "calc.py").write_text("broken\n")
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "first")
    return folder


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def write_recipe(tmp_path: Path, steps: str, name: str = "r") -> Path:
    """`<tmp_path>/<name>.yaml`: a recipe called `name` with `steps` (YAML list lines)."""
    return write(tmp_path / f"{name}.yaml", f"version: 1\nname: {name}\nsteps:\n{steps}")


def sandbox_python() -> str:
    """A Python that a sandboxed command can see: the sandbox has a private /tmp and hides home
    folders, so a venv under /tmp (a CI checkout, say) or a home (pyenv) is invisible inside;
    the system's interpreter is not."""
    real = os.path.realpath(sys.executable)
    if not real.startswith(("/tmp/", "/root/", "/home/")):
        return real
    for candidate in ("/usr/local/bin/python3", "/usr/bin/python3"):
        if os.path.exists(candidate):
            return candidate
    return real


def assert_bad_input(result, *needles: str, exit_code: int = 2) -> None:
    """A CLI result for bad input: exit 2, an `error:` line, a `hint:` line, no traceback.
    (`validate` says its findings with exit 1: pass `exit_code=1`.)"""
    assert result.exit_code == exit_code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: ")
    assert any(line.startswith("hint: ") for line in lines)
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr


# -- the engine with a scripted model ----------------------------------------------------


def make_job(store: Store, workspace: Path, text: str, params=()) -> str:
    loaded = load_recipe_text(text, "recipe.yaml", base_dir=workspace)
    return create_job(
        store,
        loaded,
        params=parse_params(loaded.recipe, list(params)),
        workspace=workspace,
        options={},
    )


def deps(store: Store, model=None, **kw) -> RunnerDeps:
    model = model or ScriptedModel([])
    return RunnerDeps(
        store=store, model_factory=lambda recipe, options: model, heartbeat_interval=0.05, **kw
    )


@pytest.fixture
def store(tmp_path) -> Store:
    return SQLiteStore(tmp_path / "engine.db")


def simulate_crash_after_action_started(store, job, model, workspace):
    """Run until the first action starts, then stop as if SIGKILLed (no result recorded)."""

    class Crash(BaseException):
        pass

    from agentctl.tools.toolbox import build_toolbox

    real = build_toolbox({}, None)

    def crashing_factory(recipe, options):
        return model

    original_run = type(real["shell"]).run

    def run_then_die(self, args, ctx):
        raise Crash()

    type(real["shell"]).run = run_then_die
    try:
        with pytest.raises(Crash):
            run_job(
                job,
                RunnerDeps(store=store, model_factory=crashing_factory, heartbeat_interval=0.05),
            )
    finally:
        type(real["shell"]).run = original_run


# PostgreSQL: a real server named by AGENTCTL_TEST_POSTGRES_URL (.ci/postgres.sh starts one).
# Without it the PostgreSQL tests skip, except in CI, where they must run.
POSTGRES_URL = os.environ.get("AGENTCTL_TEST_POSTGRES_URL", "")
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_postgres() -> str:
    if not POSTGRES_URL:
        if IN_CI:
            pytest.fail("CI=true but AGENTCTL_TEST_POSTGRES_URL is not set: start .ci/postgres.sh")
        pytest.skip("no PostgreSQL: set AGENTCTL_TEST_POSTGRES_URL (see .ci/postgres.sh)")
    return POSTGRES_URL


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL whose tables live in a schema of this test's own, dropped afterwards."""
    import secrets

    import psycopg

    base = require_postgres()
    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgres"])
def db_target(request, tmp_path) -> str:
    """A database of each backend: a SQLite file, and a PostgreSQL schema when there is one."""
    if request.param == "sqlite":
        return str(tmp_path / "store.db")
    return request.getfixturevalue("postgres_url")
