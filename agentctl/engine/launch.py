"""From a command line to a job: check every input first, then create the job and run it.

Nothing is written before all input is known to be good, so bad input leaves no job behind.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentctl.engine.admission import refuse_taken_workspace, workspace_folder
from agentctl.engine.jobs import create_job
from agentctl.engine.policy_files import load_policy_snapshots
from agentctl.errors import UsageError
from agentctl.store import Event, Schedule, Store

if TYPE_CHECKING:  # the runner (and the policy, tools, actions it imports) only to run a job:
    # `run --queue` records one and returns without paying for them
    from agentctl.engine.approvals import Approver
    from agentctl.engine.heartbeat import BeatFactory
    from agentctl.engine.run import Outcome
    from agentctl.engine.run.deps import ModelFactory, RecipeLoader
    from agentctl.models.client import ModelClient
    from agentctl.recipe.load import LoadedRecipe
    from agentctl.recipe.schema import Recipe


def prepare_job(
    store: Store,
    recipe_file: str,
    *,
    recipe_text: str | None = None,
    param_pairs: Sequence[str],
    workspace: str | None,
    model_overrides: Sequence[str],
    record: str | None,
    replay: str | None,
    policy_files: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    force_workspace: bool = False,
    force_record: bool = False,
    queue: str | None = None,
    key: str | None = None,
    job_id: str | None = None,
    schedule: Schedule | None = None,
    shared_workspace: bool = False,
    push_branch: str | None = None,
) -> str:
    """Validate the recipe, params, workspace and models; create the job; return its id.
    `recipe_text` is the recipe itself when it came from stdin (`run -`; its `policy:` is then
    relative to the current folder). With a `key` that another job already has, nothing is
    created and that job's id is returned (see `engine/keys.py` for what a run does with it)."""
    from agentctl.recipe.params import parse_params

    env = os.environ if env is None else env
    loaded = _load_recipe(recipe_file, recipe_text)
    params = parse_params(loaded.recipe, list(param_pairs))
    git = _git_workspace(workspace, loaded.recipe, push_branch)
    if git is not None:  # cloned by the runner that takes the job, on its machine
        job_id, folder = _clone_folder(store, job_id)
    else:
        folder = workspace_folder(workspace, force=force_workspace)
    check_recording(record, replay, model_overrides, force_record=force_record)
    model_overrides = check_models(loaded, model_overrides, replay, env)
    policies = load_policy_snapshots(loaded, policy_files)
    if git is None:  # after every check of the inputs themselves: their errors say more
        refuse_taken_workspace(store, folder, key=key, shared=shared_workspace)
    options = {
        **({"workspace_git": git} if git is not None else {}),
        "policies": policies,
        "models": list(model_overrides),
        "record": str(Path(record).resolve()) if record else None,
        "replay": str(Path(replay).resolve()) if replay else None,
    }
    return create_job(
        store,
        loaded,
        params=params,
        workspace=folder.resolve(),
        options=options,
        queue=queue,
        key=key,
        schedule=schedule,
        job_id=job_id,
        shared_workspace=shared_workspace,
    )


def _load_recipe(recipe_file: str, recipe_text: str | None) -> LoadedRecipe:
    """The recipe file, or the recipe itself from stdin (`run -`, read relative to here)."""
    from agentctl.recipe.load import load_recipe, load_recipe_text

    if recipe_text is not None:
        return load_recipe_text(recipe_text, "<stdin>", Path.cwd())
    return load_recipe(recipe_file)


def _clone_folder(store: Store, job_id: str | None) -> tuple[str, Path]:
    """The job's id and the folder its git workspace will be cloned into."""
    from agentctl.engine.git_workspace import clone_folder
    from agentctl.engine.jobs import new_job_id

    job_id = job_id or new_job_id()
    return job_id, clone_folder(store, job_id).expanduser()


def check_recording(
    record: str | None, replay: str | None, model_overrides: Sequence[str], *, force_record: bool
) -> None:
    """`--record FILE` and `--replay FILE`: one at a time, a recording that exists to replay,
    none to overwrite (without --force-record), no --model beside a replay."""
    if record and replay:
        raise UsageError(
            "--record and --replay cannot be used together",
            "record a session first, then replay it in another run",
        )
    if replay and not Path(replay).is_file():
        raise UsageError(
            f"no recording at {replay}",
            "pass --replay FILE with a file made by `agentctl run --record FILE`",
        )
    if replay and model_overrides:
        raise UsageError(
            "--model has no effect with --replay: every answer comes from the recording",
            "drop --model to replay, or drop --replay to call that model",
        )
    if record and Path(record).exists() and not force_record:
        raise UsageError(
            f"--record {record}: the file exists; a second session would be added to it",
            "pass a new file name, or remove the old recording first",
        )


def check_models(
    loaded: LoadedRecipe, model_overrides: Sequence[str], replay: str | None, env: Mapping[str, str]
) -> list[str]:
    """The model overrides, once every role the steps call is known to be configured (a key,
    a runnable local model; exit 2 otherwise); loading litellm starts meanwhile."""
    from agentctl.engine.steps import model_roles
    from agentctl.models.loader import start_prefetch
    from agentctl.models.roles import check_models_configured

    check_model_roles(loaded.recipe, model_overrides)
    roles = model_roles(loaded.recipe.steps)
    overrides = list(model_overrides)
    if roles and not replay:
        overrides = local_models_checked(loaded, overrides, roles, env)
    check_models_configured(
        loaded.recipe.models, overrides, env, roles, Path(replay) if replay else None
    )
    if roles and not replay:
        start_prefetch()  # litellm takes seconds to import: start while the job gets going
    else:
        from agentctl import gc_tuning

        gc_tuning.loaded()  # no model to load: start-up is over
    return overrides


def local_models_checked(
    loaded: LoadedRecipe, model_overrides: Sequence[str], roles: set[str], env: Mapping[str, str]
) -> list[str]:
    """The overrides with local models' paths made absolute, once each local model the run
    needs is known to be runnable (the runtime installed, a GGUF file): exit 2 otherwise."""
    from agentctl.models.local import check_local_models, local_overrides
    from agentctl.models.roles import resolve_roles

    overrides = local_overrides(loaded.recipe.models, model_overrides, loaded.base_dir, Path.cwd())
    check_local_models(resolve_roles(loaded.recipe.models, overrides, env), roles)
    return overrides


def _git_workspace(
    workspace: str | None, recipe: Recipe, push_branch: str | None = None
) -> dict[str, Any] | None:
    """The git source of the job's workspace: `--workspace git+URL#REV`, else the recipe's
    `workspace: {git: URL, ref: REV}` when no --workspace is given; None for a folder. With
    a branch to push (`--push-branch`, else the recipe's `push:`), it says so."""
    from agentctl.engine.git_workspace import check_push_branch, parse_git_workspace

    spec = getattr(recipe, "workspace", None)
    if workspace is not None:
        source: dict[str, Any] | None = parse_git_workspace(workspace)
    else:
        source = {"url": spec.git, "ref": spec.ref} if spec is not None else None
    push = push_branch or (spec.push if spec is not None and workspace is None else None)
    if push and source is None:
        raise UsageError(
            "--push-branch needs a git workspace: there is no clone to push from",
            "add --workspace git+URL#REV (or the recipe's `workspace: {git: URL}`)",
        )
    if source is not None and push:
        source["push"] = check_push_branch(push)
    return source


def check_model_roles(recipe: Recipe, model_overrides: Sequence[str]) -> None:
    """`--model ROLE=MODEL` must name a role the recipe has (or `default`): a typo would
    otherwise add a role nothing uses, and the run would go on with the old model."""
    import re

    from agentctl.engine.steps import model_roles

    known = {"default", *recipe.models, *model_roles(recipe.steps)}
    for override in model_overrides:
        named = re.match(r"^([A-Za-z_][A-Za-z0-9_-]*)=", override.strip())
        if named and named.group(1) not in known:
            raise UsageError(
                f"--model {override}: the recipe has no model role {named.group(1)!r}",
                f"its roles: {', '.join(sorted(known))}; or --model MODEL for the default role",
            )


def build_model_factory(env: Mapping[str, str] | None = None) -> ModelFactory:
    def factory(recipe: Recipe, options: Mapping[str, Any]) -> ModelClient:
        from agentctl.models.calls import build_model_client

        return build_model_client(
            recipe.models,
            options.get("models") or [],
            env=env,
            record=Path(options["record"]) if options.get("record") else None,
            replay=Path(options["replay"]) if options.get("replay") else None,
        )

    return factory


LIMIT_NAMES = ("max_turns", "max_tool_calls", "max_cost_usd", "timeout")


def parse_limits(pairs: Sequence[str]) -> dict[str, float]:
    """`--limit KEY=VALUE` pairs: max_turns and max_tool_calls (whole numbers), max_cost_usd
    (dollars), timeout (a duration such as 30m)."""
    from agentctl.units import parse_duration

    out: dict[str, float] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        name, raw = name.strip(), raw.strip()
        if not sep or name not in LIMIT_NAMES:
            raise UsageError(
                f"--limit {pair!r}: expected KEY=VALUE with KEY one of {', '.join(LIMIT_NAMES)}",
                "e.g. --limit max_cost_usd=5 or --limit max_turns=60",
            )
        try:
            if name == "timeout":
                value: float = parse_duration(raw)
            elif name == "max_cost_usd":
                value = float(raw)
            else:
                value = int(raw)
            if value <= 0:
                raise ValueError("must be more than 0")
        except ValueError as error:
            raise UsageError(
                f"--limit {pair!r}: {error}", f"give {name} a positive value"
            ) from None
        out[name] = value
    return out


def run_prepared_job(
    store: Store,
    job_id: str,
    *,
    approver: Approver | None,
    on_event: Callable[[Event], None] | None = None,
    on_text: Callable[[str], None] | None = None,
    limits: Mapping[str, float] | None = None,
    claimed_token: int | None = None,
    lease_ttl: float | None = None,
    detached: bool = False,
    heartbeat: BeatFactory | None = None,
    load_recipe: RecipeLoader | None = None,
) -> Outcome:
    from agentctl.engine.run import RunnerDeps, run_job

    deps = RunnerDeps(
        store=store,
        model_factory=build_model_factory(),
        approver=approver,
        on_event=on_event,
        on_text=on_text,
        limits=dict(limits or {}),
        claimed_token=claimed_token,
        detached=detached,
        load_recipe=load_recipe,
    )
    if lease_ttl is not None:
        deps.lease_ttl = lease_ttl
    if heartbeat is not None:  # a warm worker's job: the worker keeps its lease
        deps.heartbeat = heartbeat
    return run_job(job_id, deps)


def detach_job(
    store: Store, job_id: str, *, env: Mapping[str, str] | None = None, wait: float = 10.0
) -> tuple[int, Path]:
    """Run the job in a background process of its own; return its pid and its log file.

    Waits until that runner holds the job (or the job already ended), so the caller can
    report a job that is really running.
    """
    import sys
    import time

    from agentctl.engine.jobs import effective_state
    from agentctl.process.run import spawn_detached

    # The store travels in the environment, not argv: a URL's password must not show in `ps`.
    argv = [sys.executable, "-m", "agentctl", "resume", job_id, "--non-interactive", "--detached"]
    child_env = {**(os.environ if env is None else env), "AGENTCTL_DB": store.target}
    log_path = store.logs_dir / f"{job_id}.log"
    pid = spawn_detached(argv, env=child_env, log_path=log_path)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        job = store.get_job(job_id)
        if effective_state(job) != "interrupted":
            break
        time.sleep(0.05)
    return pid, log_path
