"""`run RECIPE --queue` through agentctl.quick (the fast path) and through the typer app (the
slow path): the same output, exit code and stored job for every command line, and the cache of
validated recipes the fast path keeps.

Each case runs the same command lines on two fresh databases: through the typer app alone,
and as the program runs them (the fast path, which hands over to the app when it declines).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import agentctl, invoke, write

from agentctl.quick import cache, checks
from agentctl.quick.argv import parse_queue_argv
from agentctl.quick.enqueue import SLOW_SWITCH, enqueue_from_argv, job_created

SHORT = "version: 1\nname: short\nsteps:\n  - id: a\n    run: echo hi >> out.txt\n"
PARAMS = """version: 1
name: params
params:
  test: {type: string, required: true}
  attempts: {type: integer, default: 3}
  ratio: {type: number, default: 1}
  loud: {type: boolean}
steps:
  - id: a
    run: echo {{ params.test }} {{ params.attempts }}
"""
AGENT = """version: 1
name: agent
models:
  default: {model: openai/fake-model, api_base: "http://127.0.0.1:9/v1", api_key_env: FAKE_KEY}
  other: {model: openai/gpt-4.1-mini}
steps:
  - id: work
    agent:
      instructions: Read the file.
      tools: [read_file]
"""
POLICY = 'version: 1\nname: strict\nrules:\n  - id: no-rm\n    tools: [shell]\n    commands: ["rm *"]\n    decision: deny\n'
WITH_POLICY = SHORT.replace("name: short\n", "name: guarded\npolicy: policies/strict.yaml\n")


@dataclass
class Outcome:
    code: int
    out: str
    err: str


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """The current folder: recipes, a workspace `ws` and a policy; the cache beside it."""
    folder = tmp_path / "project"
    (folder / "ws").mkdir(parents=True)
    (folder / "policies").mkdir()
    write(folder / "r.yaml", SHORT)
    write(folder / "params.yaml", PARAMS)
    write(folder / "agent.yaml", AGENT)
    write(folder / "guarded.yaml", WITH_POLICY)
    write(folder / "policies" / "strict.yaml", POLICY)
    write(folder / "bad-yaml.yaml", "version: 1\nname: [unclosed\n")
    write(folder / "bad-schema.yaml", SHORT + "colour: blue\n")
    monkeypatch.chdir(folder)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("FAKE_KEY", "sk-secret-value-4711")
    monkeypatch.delenv(SLOW_SWITCH, raising=False)
    return folder


def slow(argv: list[str], db: Path | str, monkeypatch) -> Outcome:
    monkeypatch.setenv("AGENTCTL_DB", str(db))
    result = invoke(*argv)
    return Outcome(result.exit_code, result.stdout, result.stderr)


def program(argv: list[str], db: Path | str, monkeypatch, capsys) -> tuple[Outcome, bool]:
    """What `agentctl ARGV` does: the fast path, else the app; whether the fast path did it."""
    monkeypatch.setenv("AGENTCTL_DB", str(db))
    capsys.readouterr()
    code = enqueue_from_argv(list(argv))
    if code is None:
        return slow(argv, db, monkeypatch), False
    out, err = capsys.readouterr()
    return Outcome(code, out, err), True


_ID = re.compile(r"\b[0-9a-f]{10}\b")
_TIME = re.compile(r'"(created|updated)_at": "[^"]+"')


def _normal(text: str) -> str:
    return _TIME.sub(r'"\1_at": "T"', _ID.sub("<id>", text))


def stored(db: Path) -> list[dict[str, object]]:
    """Every job row and its events, without what differs between two runs by nature (the
    id, the clock, the hash that covers both); a delay to the second."""
    if not db.exists():
        return []
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    jobs = []
    for row in conn.execute("SELECT * FROM jobs ORDER BY created_at"):
        job = dict(row)
        events = conn.execute("SELECT * FROM events WHERE job_id = ? ORDER BY seq", (job["id"],))
        job["events"] = [
            {k: v for k, v in dict(e).items() if k not in ("job_id", "ts", "hash")} for e in events
        ]
        text = conn.execute("SELECT size, data FROM blobs WHERE hash = ?", (job["recipe_blob"],))
        job["recipe_text"] = [tuple(r) for r in text]
        if job["not_before"] is not None:  # a delay from now, or a date
            delay = job["not_before"] - job["created_at"]
            job["not_before"] = round(delay) if delay < 86400 else job["not_before"]
        for name in ("id", "created_at", "updated_at"):
            del job[name]
        jobs.append(job)
    conn.close()
    return jobs


def both(argvs: list[list[str]], tmp_path, monkeypatch, capsys, name: str = "") -> list[bool]:
    """Run the command lines on two databases, slow and as the program; the same outputs
    and the same stored jobs. Which of them the fast path did itself."""
    slow_db, fast_db = tmp_path / f"slow{name}.db", tmp_path / f"fast{name}.db"
    handled = []
    for argv in argvs:
        expected = slow(argv, slow_db, monkeypatch)
        got, fast = program(argv, fast_db, monkeypatch, capsys)
        handled.append(fast)
        assert got.code == expected.code, (argv, got, expected)
        assert _normal(got.out) == _normal(expected.out), argv
        assert _normal(got.err) == _normal(expected.err), argv
    assert stored(fast_db) == stored(slow_db)
    return handled


# -- the fast path does these itself, and they match the app --------------------------------

QUEUED = [
    ["run", "r.yaml", "--queue"],
    ["run", "r.yaml", "--queue", "nightly", "--workspace", "ws", "-q"],
    ["run", "r.yaml", "--queue=nightly", "--json", "--workspace", "ws"],
    ["run", "--queue", "--workspace=ws", "r.yaml", "--quiet"],
    ["run", "params.yaml", "--queue", "-p", "test=a b", "--param=loud=yes", "--workspace", "ws"],
    ["run", "params.yaml", "--queue", "-p", "test=x", "-p", "attempts=7", "-p", "ratio=2"],
    ["run", "r.yaml", "--queue", "--priority", "5", "--not-before", "10m", "--json"],
    ["run", "r.yaml", "--queue", "--not-before", "2030-01-01T08:00", "-q"],
    ["run", "r.yaml", "--queue", "--policy", "policies/strict.yaml", "--workspace", "ws"],
    ["run", "guarded.yaml", "--queue", "--json"],
    ["run", "r.yaml", "--queue", "--shared-workspace", "--workspace", "ws"],
    ["--debug", "run", "r.yaml", "--queue", "--non-interactive", "--debug"],
    ["run", "agent.yaml", "--queue", "--workspace", "ws"],
    ["run", "agent.yaml", "--queue", "--model", "openai/fake-2", "--json"],
    ["run", "r.yaml", "--queue", "--key", "  ticket-1  ", "-q"],
    ["run", "r.yaml", "--queue", "--key", "ticket-2", "--json"],
]


@pytest.mark.parametrize("argv", QUEUED, ids=[" ".join(a) for a in QUEUED])
def test_the_fast_path_records_what_the_app_records(argv, project, tmp_path, monkeypatch, capsys):
    # Twice: a cache miss, then a hit (the second job is checked against the app's too).
    assert both([argv, argv], tmp_path, monkeypatch, capsys)[0]


def test_each_case_is_done_by_the_fast_path_on_a_hit(project, tmp_path, monkeypatch, capsys):
    """A hit never runs the recipe's validation (its functions fail if called)."""
    for argv in QUEUED:
        assert both([argv], tmp_path, monkeypatch, capsys, "1") == [True], argv
    import agentctl.quick.validate as validate

    def refuse(*args, **kwargs):
        raise AssertionError("validated again")

    monkeypatch.setattr(validate, "validate_inputs", refuse)
    for argv in QUEUED:
        assert both([argv], tmp_path, monkeypatch, capsys, "2") == [True], argv


def test_the_database_named_before_or_after_the_command(project, tmp_path, monkeypatch, capsys):
    db = tmp_path / "named.db"
    for argv in (
        ["--db", str(db), "run", "r.yaml", "--queue"],
        ["run", "r.yaml", "--db", str(db), "--queue"],
    ):
        got, fast = program(argv, tmp_path / "unused.db", monkeypatch, capsys)
        assert fast and got.code == 0
    assert len(stored(db)) == 2 and not (tmp_path / "unused.db").exists()


def test_a_reused_key_is_left_to_the_app(project, tmp_path, monkeypatch, capsys):
    argv = ["run", "r.yaml", "--queue", "--key", "k1", "--json"]
    again = [*argv[:-1], "-q"]
    assert both([argv, argv, again], tmp_path, monkeypatch, capsys) == [True, False, False]


# -- bad input: the app's error, exit 2, no job; the fast path hands over --------------------

BAD = [
    ["run", "missing.yaml", "--queue"],
    ["run", "bad-yaml.yaml", "--queue"],
    ["run", "bad-schema.yaml", "--queue", "--json"],
    ["run", "params.yaml", "--queue", "-p", "nope=1"],
    ["run", "params.yaml", "--queue"],
    ["run", "params.yaml", "--queue", "-p", "test=x", "-p", "attempts=many"],
    ["run", "r.yaml", "--queue", "--not-before", "soonish"],
    ["run", "r.yaml", "--queue", "--key", "bad\x01key"],
    ["run", "r.yaml", "--queue", "--key", "   "],
    ["run", "r.yaml", "--queue", "  "],
    ["run", "r.yaml", "--queue", "--workspace", "no-such-folder"],
    ["run", "r.yaml", "--queue", "--workspace", "/"],
    ["run", "r.yaml", "--queue", "--workspace", "r.yaml"],
    ["run", "r.yaml", "--queue", "--policy", "policies/missing.yaml"],
    ["run", "r.yaml", "--queue", "--policy", "bad-yaml.yaml"],
    ["run", "agent.yaml", "--queue", "--model", "nobody=openai/x"],
    ["run", "r.yaml", "--queue", "--priority", "3", "--detach"],
    ["run", "r.yaml", "--queue", "--workspace", "git+"],
    ["run", "r.yaml", "--queue", "--db", "/no/such/folder/x.db"],
]


@pytest.mark.parametrize("argv", BAD, ids=[repr(" ".join(a)) for a in BAD])
def test_bad_input_fails_as_in_the_app(argv, project, tmp_path, monkeypatch, capsys):
    assert both([argv], tmp_path, monkeypatch, capsys) == [False]
    assert stored(tmp_path / "fast.db") == []


def test_a_missing_key_fails_once_the_cache_knew_it_set(project, tmp_path, monkeypatch, capsys):
    argv = ["run", "agent.yaml", "--queue"]
    assert both([argv], tmp_path, monkeypatch, capsys) == [True]
    monkeypatch.delenv("FAKE_KEY")
    assert both([argv], tmp_path, monkeypatch, capsys) == [False]
    monkeypatch.setenv("FAKE_KEY", "   ")  # blank: set, so api_key_env is satisfied
    assert both([argv], tmp_path, monkeypatch, capsys) == [True]
    secrets = [p.read_text() for p in (tmp_path / "cache").rglob("*.json")]
    assert secrets and not any("sk-secret" in text for text in secrets)


def test_the_database_inside_the_workspace_fails_as_in_the_app(
    project, tmp_path, monkeypatch, capsys
):
    db_in_ws = project / "ws" / "inside.db"
    argv = ["run", "r.yaml", "--queue", "--workspace", "ws", "--db", str(db_in_ws)]
    expected = slow(argv, tmp_path / "x.db", monkeypatch)
    got, fast = program(argv, tmp_path / "x.db", monkeypatch, capsys)
    assert not fast and (got.code, got.err) == (expected.code, expected.err) == (2, expected.err)


def test_a_changed_policy_file_is_checked_again(project, tmp_path, monkeypatch, capsys):
    argv = ["run", "guarded.yaml", "--queue", "--json"]
    assert both([argv], tmp_path, monkeypatch, capsys) == [True]
    write(project / "policies" / "strict.yaml", "version: 1\nrules: [oops\n")
    assert both([argv], tmp_path, monkeypatch, capsys) == [False]
    write(project / "policies" / "strict.yaml", POLICY.replace("rm *", "rm -rf *"))
    assert both([argv], tmp_path, monkeypatch, capsys) == [True]
    options = json.loads(stored(tmp_path / "fast.db")[-1]["options"])
    assert "rm -rf" in options["policies"][0]["text"]


# -- command lines that are not the fast path's --------------------------------------------

OTHERS = [
    ["run", "r.yaml"],
    ["run", "r.yaml", "--queue", "--help"],
    ["run", "r.yaml", "--queue", "--detach"],
    ["run", "r.yaml", "--queue", "-ptest=x"],
    ["run", "-", "--queue"],
    ["run", "r.yaml", "--queue", "--record", "x.jsonl"],
    ["run", "r.yaml", "--queue", "--frobnicate"],
    ["run", "r.yaml", "--queue", "a", "--queue", "b"],
    ["run", "r.yaml", "other.yaml", "--queue"],
    ["run", "r.yaml", "--queue", "--", "x"],
    ["run", "r.yaml", "--queue", "--db", "postgresql://u:pw@localhost/db"],
    ["run", "r.yaml", "--queue", "--db=postgres://u:p/w@s@localhost:5432/db"],
    ["--db", "postgresql://u:pw@localhost/db", "run", "r.yaml", "--queue"],
    ["--version", "run", "r.yaml", "--queue"],
    ["jobs", "--queue"],
    [],
]


@pytest.mark.parametrize("argv", OTHERS, ids=[" ".join(a) or "(none)" for a in OTHERS])
def test_other_command_lines_are_the_apps(argv):
    assert parse_queue_argv(argv) is None


def test_a_database_url_without_a_password_is_the_fast_path_s():
    args = parse_queue_argv(["run", "r.yaml", "--queue", "--db", "postgresql://agentctl@db:5/x"])
    assert args is not None and args.db == "postgresql://agentctl@db:5/x"


def test_the_switch_and_completion_leave_it_to_the_app(project, monkeypatch):
    monkeypatch.setenv(SLOW_SWITCH, "1")
    assert enqueue_from_argv(["run", "r.yaml", "--queue"]) is None
    monkeypatch.delenv(SLOW_SWITCH)
    monkeypatch.setenv("_AGENTCTL_COMPLETE", "bash_complete")
    assert enqueue_from_argv(["run", "r.yaml", "--queue"]) is None


# -- the copies of the app's rules hold to their originals -------------------------------------


def test_the_job_created_event_is_the_vocabulary_s():
    from agentctl.event_json import event_data
    from agentctl.events import JobCreated

    facts = {"name": "r", "params": {"a": 1}, "steps": [{"id": "a", "kind": "run"}]}
    for key in (None, "k"):
        event = JobCreated(recipe="r", recipe_path="r.yaml", params={"a": 1}, workspace="/w",
                           steps=[{"id": "a", "kind": "run"}], key=key)  # fmt: skip
        assert job_created(facts, "r.yaml", "/w", key) == event_data(event)
        assert list(job_created(facts, "r.yaml", "/w", key)) == list(event_data(event))


def test_the_host_is_socket_s():
    """The workspace check names this host as procinfo.host_name does (uname on Linux, so the
    fast path imports no socket): the name a lease written by a runner here holds."""
    import socket

    from agentctl.process.procinfo import current_process, host_name

    assert host_name() == socket.gethostname() == current_process().host


def test_the_cache_dir_is_platformdirs_user_cache_dir(monkeypatch):
    import platformdirs

    for value in ("/tmp/xdg-cache", "", "  "):
        monkeypatch.setenv("XDG_CACHE_HOME", value)
        expected = platformdirs.user_cache_dir("agentctl", appauthor=False)
        assert cache.cache_dir() == os.path.join(expected, cache.FORMAT)


def test_keys_as_engine_keys_checks_them():
    from agentctl.engine.admission import check_key
    from agentctl.errors import UsageError

    for key in ("k", "  k  ", "", " ", "a\tb", "x" * 200, "x" * 201, "é", "a\u200bb"):
        try:
            expected = check_key(key)
        except UsageError:
            with pytest.raises(checks.HandOver):
                checks.check_key(key)
        else:
            assert checks.check_key(key) == expected


# -- the cache itself ------------------------------------------------------------------------


def test_a_cache_dir_that_cannot_be_written_is_no_error(project, tmp_path, monkeypatch, capsys):
    write(tmp_path / "a-file", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "a-file"))
    argv = ["run", "r.yaml", "--queue"]
    assert both([argv, argv], tmp_path, monkeypatch, capsys) == [True, True]


def test_an_entry_is_only_trusted_in_the_user_s_private_folder(tmp_path):
    folder = tmp_path / "c"
    assert cache.store("k1", {"facts": {}, "env": {}}, str(folder))
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    assert oct((folder / "k1.json").stat().st_mode & 0o777) == "0o600"
    assert cache.load("k1", str(folder)) is not None
    folder.chmod(0o770)
    assert cache.load("k1", str(folder)) is None
    assert not cache.store("k2", {"facts": {}, "env": {}}, str(folder))


def test_a_corrupt_or_foreign_entry_is_a_miss(tmp_path):
    folder = tmp_path / "c"
    cache.store("k1", {"facts": {}, "env": {}}, str(folder))
    for text in ("{not json", "[]", '{"format": "enqueue-v0", "key": "k1", "facts": {}, "env": {}}',
                 '{"format": "enqueue-v1", "key": "k2", "facts": {}, "env": {}}',
                 '{"format": "enqueue-v1", "key": "k1", "facts": [], "env": {}}'):  # fmt: skip
        write(folder / "k1.json", text)
        assert cache.load("k1", str(folder)) is None
    assert cache.load("never-stored", str(folder)) is None


def test_the_cache_keeps_a_bounded_number_of_entries(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "MAX_ENTRIES", 3)
    folder = tmp_path / "c"
    for i in range(6):
        cache.store(f"k{i}", {"facts": {}, "env": {}}, str(folder))
        os.utime(folder / f"k{i}.json", (1000 + i, 1000 + i))
    cache._bound(str(folder), 3)
    assert sorted(p.name for p in folder.iterdir()) == ["k3.json", "k4.json", "k5.json"]


def test_the_key_changes_with_the_code(monkeypatch):
    before = cache.entry_key(["same"])
    monkeypatch.setattr(cache, "code_signature", lambda: "another build")
    assert cache.entry_key(["same"]) != before


def test_the_environment_is_seen_as_set_or_not_never_its_value():
    env = {"OPENAI_API_KEY": "sk-1", "EMPTY": "", "BLANK": " ", "AGENTCTL_MODEL": "openai/x"}
    seen = {name: cache.observe(env, name) for name in [*env, "UNSET"]}
    assert seen == {"OPENAI_API_KEY": "<set>", "EMPTY": "<empty>", "BLANK": "<blank>",
                    "AGENTCTL_MODEL": "openai/x", "UNSET": None}  # fmt: skip
    recorder = cache.EnvRecorder(env)
    recorder.get("OPENAI_API_KEY")
    assert "AGENTCTL_MODEL" not in recorder.observed() and not recorder.whole
    list(recorder)
    assert recorder.whole
    assert cache.faithful(["OPENAI_API_KEY", "AGENTCTL_MODEL", "AGENTCTL_STREAM"])
    assert not cache.faithful(["AGENTCTL_SOMETHING_ELSE"])


# -- the command itself -----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.e2e
def test_the_command_records_the_same_job_either_way(project, tmp_path):
    argv = ["run", "params.yaml", "--queue", "night", "-p", "test=t", "--workspace", "ws", "--json"]
    fast_db, slow_db = tmp_path / "fast.db", tmp_path / "slow.db"
    outs = []
    for db, extra in ((slow_db, {SLOW_SWITCH: "1"}), (fast_db, {}), (fast_db, {})):
        done = agentctl(argv, db, project, XDG_CACHE_HOME=str(tmp_path / "cache"), **extra)
        assert done.returncode == 0, done.stderr
        outs.append((_normal(done.stdout), done.stderr))
    assert outs[0] == outs[1] == outs[2]
    assert stored(fast_db)[0] == stored(slow_db)[0] == stored(fast_db)[1]
    verified = agentctl(["log", "last", "--verify"], fast_db, project)
    assert verified.returncode == 0, verified.stderr


@pytest.mark.slow
@pytest.mark.e2e
def test_a_hit_imports_none_of_the_command_line_s_libraries(project, tmp_path):
    argv = ["run", "r.yaml", "--queue", "-q"]
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    first = agentctl(argv, tmp_path / "a.db", project, **env)
    assert first.returncode == 0, first.stderr
    command = [sys.executable, "-X", "importtime", "-m", "agentctl", *argv]
    env["AGENTCTL_DB"] = str(tmp_path / "a.db")
    done = subprocess.run(
        command, cwd=project, capture_output=True, text=True, env={**os.environ, **env}
    )
    assert done.returncode == 0 and _ID.fullmatch(done.stdout.strip()), done.stderr[-2000:]
    imported = {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines()}
    assert "agentctl" in imported
    assert not imported & {"typer", "click", "rich", "pydantic", "jinja2", "yaml", "litellm"}


def test_postgresql_gets_the_same_job_either_way(project, postgres_url, monkeypatch, capsys):
    """The store is opened the same way (its migrations, its URL) and records the same row."""
    import psycopg
    from psycopg.rows import dict_row

    argv = ["run", "params.yaml", "--queue", "pg", "-p", "test=t", "--workspace", "ws", "--json"]
    expected = slow(argv, postgres_url, monkeypatch)
    got, fast = program(argv, postgres_url, monkeypatch, capsys)
    assert fast and (got.code, _normal(got.out), got.err) == (0, _normal(expected.out), "")
    assert expected.code == 0
    with psycopg.connect(postgres_url, row_factory=dict_row) as conn:
        jobs = conn.execute("SELECT * FROM jobs ORDER BY created_at").fetchall()
        events = [
            conn.execute(
                "SELECT type, step, data FROM events WHERE job_id = %s ORDER BY seq", (job["id"],)
            ).fetchall()
            for job in jobs
        ]
    assert len(jobs) == 2 and events[0] == events[1]
    differ = ("id", "created_at", "updated_at", "rownum")  # rownum: the order of insertion
    assert {k: v for k, v in jobs[1].items() if jobs[0][k] != v and k not in differ} == {}


def test_agentctl_model_is_part_of_the_verdict(project, tmp_path, monkeypatch, capsys):
    models = AGENT[AGENT.index("models:") : AGENT.index("steps:")]
    write(project / "nomodel.yaml", AGENT.replace(models, ""))  # the default role from the env
    argv = ["run", "nomodel.yaml", "--queue", "--json"]
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value-4712")
    monkeypatch.setenv("AGENTCTL_MODEL", "openai/from-env")
    assert both([argv, argv], tmp_path, monkeypatch, capsys) == [True, True]
    monkeypatch.delenv("AGENTCTL_MODEL")
    assert both([argv], tmp_path, monkeypatch, capsys) == [False]  # no model: the app says so
    entries = [json.loads(p.read_text()) for p in (tmp_path / "cache").rglob("*.json")]
    assert [e["env"]["AGENTCTL_MODEL"] for e in entries] == ["openai/from-env"]
    assert [e["env"]["OPENAI_API_KEY"] for e in entries] == ["<set>"]


# -- a tripwire: what the fast path copies may not change unseen ----------------------------

# The functions whose behaviour agentctl/quick repeats (checks.py, enqueue.py) or relies on
# (validate.py calls them in prepare_job's order), by a hash of their code (docstrings and
# formatting aside). A change to one of them fails here: make agentctl/quick do the same (a
# new check in prepare_job must also run on a cache hit), add a case to the tables above,
# then put the new hash here.
PINNED = {
    ("agentctl/cli/app.py", "_optional_values"): "f91679914046",
    ("agentctl/cli/follow.py", "report_queued"): "42bd597a07e0",
    ("agentctl/cli/keyed.py", "run_keyed"): "6d403f5fc7ff",
    ("agentctl/cli/options.py", "open_store"): "5db1c73a78da",
    ("agentctl/cli/run.py", "run"): "8c5ef10118a0",
    ("agentctl/cli/run.py", "_schedule"): "58c91fbbf71b",
    ("agentctl/cli/run.py", "_queue_name"): "addfd0d821d2",
    ("agentctl/engine/jobs.py", "create_job"): "85a6f3c2edb5",
    ("agentctl/engine/jobs.py", "new_job_id"): "c2ac91ccfd5e",
    ("agentctl/engine/launch.py", "prepare_job"): "9f641e059e0d",
    ("agentctl/engine/launch.py", "_load_recipe"): "873b3af5a0eb",
    ("agentctl/engine/launch.py", "_git_workspace"): "1cbb77dbd3d0",
    ("agentctl/engine/launch.py", "check_recording"): "2d6ca272976e",
    ("agentctl/engine/launch.py", "check_models"): "a9430f0bf969",
    ("agentctl/engine/policy_files.py", "load_policy_snapshots"): "1786ef8d58e9",
    ("agentctl/engine/policy_files.py", "read_policy"): "76407ea56322",
    ("agentctl/yamlload.py", "read_text_file"): "5b6558cc618e",
}


def _code_hash(file: str, name: str) -> str:
    import ast
    import hashlib

    tree = ast.parse((Path(__file__).parent.parent / file).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                node.body = body[1:] or [ast.Pass()]  # the docstring aside
            return hashlib.sha256(ast.unparse(node).encode()).hexdigest()[:12]
    return "missing"


def test_what_the_fast_path_repeats_has_not_changed():
    changed = {
        f"{file}:{name}": now
        for (file, name), pinned in PINNED.items()
        if (now := _code_hash(file, name)) != pinned
    }
    assert not changed, (
        "agentctl/quick repeats these functions (see PINNED's comment); their code changed:"
        f" {changed}"
    )


def test_a_store_that_fails_to_record_fails_as_in_the_app(project, tmp_path, monkeypatch, capsys):
    """Once the store is asked to record, the fast path never hands over (the app would ask
    again): it reports the error as the app does."""
    from agentctl.store import StoreError
    from agentctl.store.sqlstore import SqlStore

    def busy(self, **kwargs):
        raise StoreError("the database is busy", "try again in a moment")

    monkeypatch.setattr(SqlStore, "create_job", busy)
    argv = ["run", "r.yaml", "--queue", "--json"]
    assert both([argv, argv], tmp_path, monkeypatch, capsys) == [True, True]
    got, _ = program(argv, tmp_path / "x.db", monkeypatch, capsys)
    assert got.code != 0 and got.err.startswith("error: the database is busy\nhint: ")


def test_anything_unforeseen_before_the_store_is_the_app_s(project, tmp_path, monkeypatch, capsys):
    def broken(inputs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(cache, "entry_key", broken)
    argv = ["run", "r.yaml", "--queue"]
    assert both([argv], tmp_path, monkeypatch, capsys) == [False]
