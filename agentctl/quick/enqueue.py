"""`agentctl run RECIPE --queue Q` recorded without the typer app (see the package's doc).

`enqueue_from_argv` answers None whenever the app should run instead: not the queue-only
shape, the slow path asked for (AGENTCTL_SLOW_ENQUEUE=1), shell completion, or any check
that fails (the app repeats it and words the error). Nothing is written before every check
has passed, so handing over is always safe; once the job exists this module finishes.
The checks and the job are `run`'s own: `cli/run.py` → `engine.launch.prepare_job` →
`engine.jobs.create_job` (tests/test_quick_enqueue.py runs both on the same inputs).
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING, TextIO

from agentctl.quick import checks
from agentctl.quick.argv import QueueArgs, parse_queue_argv
from agentctl.quick.checks import HandOver

if TYPE_CHECKING:
    from pathlib import Path

    from agentctl.events import JsonObject
    from agentctl.quick.cache import Entry, Facts
    from agentctl.store.base import Schedule, Store

SLOW_SWITCH = "AGENTCTL_SLOW_ENQUEUE"
_FACTS = ("name", "steps", "recipe_git", "params", "models", "policies")


def enqueue_from_argv(argv: list[str]) -> int | None:
    """Record the queued job `argv` asks for and print what `run` prints: the exit code;
    None to run the typer app instead."""
    if os.environ.get(SLOW_SWITCH, "") not in ("", "0"):
        return None
    if any(name.startswith("_AGENTCTL_COMPLETE") for name in os.environ):
        return None
    args = parse_queue_argv(argv)
    if args is None:
        return None
    try:
        return _enqueue(args)
    except HandOver:
        return None
    except KeyboardInterrupt:
        return 130  # as the app: nothing was recorded, or the job was and stays queued


def _enqueue(args: QueueArgs) -> int:
    from pathlib import Path

    try:
        key = checks.check_key(args.key)
        schedule = checks.schedule(args.priority, args.not_before)
        queue = checks.queue_name(args.queue or "")
        recipe = Path(str(Path(args.recipe or "")))  # as typer's Path argument gives it
        facts, text = _facts(args, str(recipe))
        if facts["recipe_git"] and args.workspace is None:
            raise HandOver("the recipe's git workspace is cloned by the engine")
        if args.workspace is not None and args.workspace.startswith("git+"):
            raise HandOver("a git workspace")
        folder = checks.workspace_folder(args.workspace, force=args.force_workspace)
    except (HandOver, KeyboardInterrupt):
        raise
    except Exception:  # anything unforeseen before the store: the app's to say
        raise HandOver("unexpected") from None
    store = checks.open_store(args.db or args.global_db)
    try:
        try:
            checks.refuse_taken_workspace(store, folder, key=key, shared=args.shared_workspace)
        except HandOver:
            raise
        except Exception:
            raise HandOver("the workspace check failed") from None
        new_id = os.urandom(5).hex()  # engine.jobs.new_job_id: secrets.token_hex(5)
        try:  # from here on the job may exist: never handed over (the app would add one)
            job_id = _create(store, facts, text, recipe, folder, new_id, queue, key, schedule, args)
            if job_id != new_id:  # nothing was recorded: the key's job is `run`'s to handle
                raise HandOver("the key names another job")
            _report(store, job_id, queue, json_out=args.json_out, quiet=args.quiet)
        except (HandOver, KeyboardInterrupt):
            raise
        except Exception as error:
            return _failed(error, debug=args.debug)
    finally:
        store.close()
    return 0


def _failed(error: Exception, *, debug: bool) -> int:
    """cli/app.py's error boundary: its `error:` and `hint:` lines and exit code."""
    from agentctl.errors import AgentctlError

    if debug:
        import traceback

        traceback.print_exc()
    if isinstance(error, AgentctlError):
        message, hint, code = error.message, error.hint, error.exit_code
    else:
        message = f"internal error: {type(error).__name__}: {error}"
        hint, code = "run again with --debug for the traceback, and report it", 1
    _write(sys.stderr, f"error: {message}\n" + (f"hint: {hint}\n" if hint else ""))
    return code


def _facts(args: QueueArgs, recipe_file: str) -> tuple[Facts, str]:
    """The recipe's checked facts and its text: from the cache when the same inputs passed
    before (and the environment and policy files still read the same), else checked now and
    kept."""
    from agentctl.quick import cache

    try:
        with open(recipe_file, "rb") as f:
            text = f.read().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        raise HandOver("the recipe cannot be read") from None
    inputs: list[object] = [
        recipe_file,
        os.path.abspath(recipe_file),
        os.getcwd(),
        os.environ.get("HOME", ""),
        text,
        args.param,
        args.policy,
        args.model,
    ]
    key = cache.entry_key(inputs)
    facts = _cached_facts(cache.load(key))
    if facts is None:
        facts, observed, said = _validate(args, recipe_file)
        if said:  # a warning, which a hit could not repeat: the app says it
            raise HandOver("the checks had something to say")
        cache.store(key, {"facts": facts, "env": observed})
    return facts, text


def _cached_facts(entry: Entry | None) -> Facts | None:
    """An entry's facts, when the environment and the policy files still read as they did
    for its checks; None otherwise (or for an entry of a shape this code did not write)."""
    from agentctl.quick import cache

    if entry is None:
        return None
    try:
        if not cache.same_environment(entry["env"], os.environ):
            return None
        facts = entry["facts"]
        if not all(name in facts for name in _FACTS) or not _policies_unchanged(facts):
            return None
    except (KeyError, TypeError, AttributeError):
        return None
    return facts


def _validate(args: QueueArgs, recipe_file: str) -> tuple[Facts, dict[str, str | None], str]:
    from agentctl.quick.validate import validate_inputs

    try:
        return validate_inputs(recipe_file, args.param, args.policy, args.model)
    except Exception:  # every failure is the app's to report, in its words
        raise HandOver("the checks failed") from None


def _policies_unchanged(facts: Facts) -> bool:
    """Each policy file still holds the text that was checked (and its path is refreshed:
    a symbolic link may point elsewhere now)."""
    from pathlib import Path

    for policy in facts["policies"]:
        source = Path(policy["source"])
        try:
            if source.read_text(encoding="utf-8") != policy["text"]:
                return False
        except (OSError, UnicodeDecodeError):
            return False
        policy["path"] = str(source.resolve())
    return True


def _create(
    store: Store,
    facts: Facts,
    text: str,
    recipe: Path,
    folder: Path,
    job_id: str,
    queue: str,
    key: str | None,
    schedule: Schedule | None,
    args: QueueArgs,
) -> str:
    """engine.jobs.create_job with what prepare_job gives it for a queued job in a folder."""
    from agentctl.store.base import NewEvent

    workspace = str(folder.resolve())
    options = {
        "policies": [{"path": p["path"], "text": p["text"]} for p in facts["policies"]],
        "models": list(facts["models"]),
        "record": None,
        "replay": None,
    }
    params = facts["params"]
    return store.create_job(
        job_id=job_id,
        recipe=facts["name"],
        recipe_path=str(recipe.resolve()),
        recipe_text=text,
        params=params,
        options=options,
        workspace=workspace,
        now=time.time(),
        queue=queue,
        key=key,
        schedule=schedule,
        shared_workspace=args.shared_workspace,
        event=NewEvent("job_created", None, job_created(facts, str(recipe), workspace, key)),
    )


def job_created(facts: Facts, recipe_path: str, workspace: str, key: str | None) -> JsonObject:
    """The `job_created` event's fields as `events.JobCreated` stores them (its fields in
    order, `key` left out while None), without importing the event vocabulary."""
    data: JsonObject = {
        "recipe": facts["name"],
        "recipe_path": recipe_path,
        "params": dict(facts["params"]),
        "workspace": workspace,
        "steps": [dict(step) for step in facts["steps"]],
    }
    if key is not None:
        data["key"] = key
    return data


def _report(store: Store, job_id: str, queue: str, *, json_out: bool, quiet: bool) -> None:
    """cli/follow.report_queued (a keyed run's fresh job: the same)."""
    if quiet and not json_out:
        text = f"{job_id}\n"
    elif json_out:
        import json

        from agentctl.engine.jobs import describe_job

        text = json.dumps(describe_job(store, store.get_job(job_id)), indent=2) + "\n"
    else:
        text = (
            f"job {job_id} is queued in {queue!r}; a worker runs it: agentctl worker --queue"
            f" {queue}\nfollow it: agentctl watch {job_id}   stop it: agentctl cancel {job_id}\n"
        )
    _write(sys.stdout, text)


def _write(stream: TextIO, text: str) -> None:
    """Write and flush; a reader that went away (`| head -0`) is no error, as in the app."""
    try:
        try:  # cli/app.tolerate_surrogates (a test's capture has no reconfigure)
            getattr(stream, "reconfigure")(errors="backslashreplace")  # noqa: B009
        except (AttributeError, ValueError, OSError):
            pass
        stream.write(text)
        stream.flush()
    except (BrokenPipeError, ValueError):
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
        except (OSError, ValueError):
            pass
