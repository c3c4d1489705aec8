"""What a run's actions run with: limits, environment, policy, confinement, change recording.

Built once per runner from the recipe, the job's policies and this machine. The policy's
limits tighten the recipe's (the smallest of each wins), and its sandbox setting meets what
bubblewrap can do here: `preferred` without confinement turns every process-starting action
into `ask`; `required` lets the tool refuse.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from agentctl.engine.actions import ActionContext
from agentctl.engine.limits import DEFAULT_MAX_REPEATS, JobLimits, Usage
from agentctl.policy.votes import Decision, Verdict
from agentctl.process.sandbox import SandboxSettings

if TYPE_CHECKING:
    from agentctl.changes.record import ChangeRecorder
    from agentctl.engine.actions import Decider
    from agentctl.policy.effects import EffectCheck
    from agentctl.policy.rules import PolicySet
    from agentctl.recipe.schema import Recipe
    from agentctl.tools.base import Tool

Number = TypeVar("Number", int, float)
# The job row's columns that say what the job used so far (engine/limits.Usage).
USAGE_COLUMNS = ("model_calls", "tool_calls", "cost_usd", "input_tokens", "output_tokens")


def _smallest(*values: Number | None) -> Number | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def hidden_paths_for(db_path: Path | None, workspace: Path) -> tuple[Path, ...]:
    """The database and its state folder, which no confined process may see."""
    if db_path is None:  # a database server: nothing on this machine to hide
        return ()
    db = db_path.resolve()
    paths = [db, Path(f"{db}-wal"), Path(f"{db}-shm")]
    folder = db.parent
    if folder != workspace and workspace not in folder.parents:
        paths.append(folder)
    return tuple(paths)


_GLOB = re.compile(r"[*?\\[]")


def visible_paths_for(policy: PolicySet | None) -> tuple[Path, ...]:
    """Absolute paths the policy's allow rules name (`/home/me/.cache/pip/**`): shown
    read-only to confined commands even inside a hidden home folder."""
    found: list[Path] = []
    for one in getattr(policy, "policies", ()):
        for rule in getattr(one, "rules", ()):
            if getattr(rule, "decision", None) != Verdict.ALLOW:
                continue
            for pattern in getattr(rule, "paths", None) or ():
                if not pattern.startswith("/"):
                    continue
                literal = _GLOB.split(pattern, 1)[0]
                if literal != pattern:  # cut at the last whole folder before the glob
                    literal = literal.rsplit("/", 1)[0]
                if literal not in ("", "/"):
                    found.append(Path(literal))
    return tuple(dict.fromkeys(found))


def job_limits(recipe: Recipe, policy_limit: Callable[[str], Any]) -> JobLimits:
    """The job-wide limits: the recipe's, each tightened by the policies' (`policy_limit`)."""
    own = recipe.limits
    return JobLimits(
        max_turns=_smallest(own.max_turns, policy_limit("max_turns")),
        max_tool_calls=_smallest(own.max_tool_calls, policy_limit("max_tool_calls")),
        max_cost_usd=_smallest(own.max_cost_usd, policy_limit("max_cost_usd")),
        timeout=_smallest(own.timeout, policy_limit("timeout")),
        max_repeats=int(
            _smallest(own.max_repeats, policy_limit("max_repeats")) or DEFAULT_MAX_REPEATS
        ),
    )


def _confined(
    sandbox: str, network: bool, tool_env: dict[str, str], warn: Callable[[str], None] | None
) -> bool:
    """Whether the policy's sandbox setting confines commands here (bubblewrap works); says
    so with a warning when it cannot. Confined commands get a private HOME (/tmp)."""
    if sandbox == "off":
        return False
    from agentctl.process.sandbox import probe_confinement, warning_for

    confined = probe_confinement().available
    message = warning_for(sandbox, network=network)
    if message and warn is not None:
        warn(message)
    if confined:
        tool_env["HOME"] = "/tmp"  # HOME is read-only in the sandbox; its /tmp is private
    return confined


def build_action_context(
    *,
    recipe: Recipe,
    job: Mapping[str, Any],
    workspace: Path,
    env: Mapping[str, str],
    cancel: threading.Event,
    active_seconds: float,
    db_path: Path | None,
    policy: PolicySet | None = None,
    warn: Callable[[str], None] | None = None,
) -> ActionContext:
    from agentctl.process.run import minimal_env

    policy_limits = getattr(policy, "limits", None)

    def policy_limit(name: str) -> Any:
        return getattr(policy_limits, name, None) if policy_limits is not None else None

    limits = job_limits(recipe, policy_limit)
    usage = Usage(**{name: job[name] for name in USAGE_COLUMNS})
    deadline = None
    if limits.timeout is not None:
        deadline = time.monotonic() + limits.timeout - active_seconds
    tool_env = minimal_env(recipe.env, env)
    sandbox = sandbox_settings_for(policy, workspace, db_path)
    confined = _confined(sandbox.mode, sandbox.network, tool_env, warn)
    decide = None
    written: set[str] = set()  # the job's own files, filled as actions record changes
    if policy is not None:
        # Without any policy, commands keep running unconfined where no sandbox exists (with
        # the warning above); a policy that prefers a sandbox makes each of them ask.
        escalate = (
            sandbox.mode == "preferred"
            and not confined
            and not getattr(policy, "is_default", False)
        )
        decide = _policy_decider(policy, workspace, db_path, escalate=escalate, written=written)
    ctx = ActionContext(
        workspace=workspace,
        env=tool_env,
        cancel=cancel,
        limits=limits,
        usage=usage,
        deadline=deadline,
        tool_timeout_cap=policy_limit("tool_timeout"),
        decide=decide,
        recorder=_recorder_for(recipe, workspace, db_path, cancel=cancel, warn=warn),
        sandbox=sandbox,
        written=written,
    )
    if policy is not None and hasattr(policy, "decide_write"):
        ctx.check_effects = _effect_checker(policy, workspace, db_path)
    return ctx


def sandbox_settings_for(
    policy: PolicySet | None, workspace: Path, db_path: Path | None
) -> SandboxSettings:
    """How the job's processes are confined, as its policies say (no policy: not at all)."""
    read_only = policy is not None and hasattr(policy, "decide_write")
    return SandboxSettings(
        mode=getattr(policy, "sandbox", "off") if policy is not None else "off",
        network=bool(getattr(policy, "network", True)) if policy is not None else True,
        hidden_paths=hidden_paths_for(db_path, workspace),
        visible_paths=visible_paths_for(policy),
        read_only_workspace=read_only and bool(getattr(policy, "allows_no_writes", False)),
    )


def _effect_checker(
    policy: PolicySet, workspace: Path, db_path: Path | None
) -> Callable[..., EffectCheck]:
    from agentctl.policy.effects import check_effects, named_paths

    def check(
        name: str,
        tool: Tool,
        args: dict[str, Any],
        changes: list[dict[str, Any]],
        markers: list[dict[str, str]],
        approved: frozenset[str],
        person_approved: bool,
    ) -> EffectCheck:
        if person_approved:  # what the person saw named is theirs to allow
            touches = tool.spec.touches
            approved |= named_paths(name, args, workspace=workspace, touches=touches)
        return check_effects(
            policy,
            name,
            changes,
            markers,
            workspace=workspace,
            db_path=db_path,
            approved=approved,
            person_approved=person_approved,
        )

    return check


def _recorder_for(
    recipe: Recipe,
    workspace: Path,
    db_path: Path | None,
    *,
    cancel: threading.Event | None = None,
    warn: Callable[[str], None] | None = None,
) -> ChangeRecorder:
    from agentctl.changes.record import ChangeRecorder

    exclude = list(recipe.changes.exclude)
    db = db_path.resolve() if db_path is not None else None
    if db is not None and workspace in db.parents:  # its own database is not a change
        relative = db.relative_to(workspace).as_posix()
        exclude += [relative, f"{relative}-wal", f"{relative}-shm", f"{relative}-journal"]
    return ChangeRecorder(
        workspace,
        exclude=exclude,
        max_file_size=recipe.changes.max_file_size,
        gitignore=recipe.changes.gitignore,
        cancel=cancel,
        warn=warn,
    )


def _policy_decider(
    policy: PolicySet, workspace: Path, db_path: Path | None, *, escalate: bool, written: set[str]
) -> Decider:
    def decide(name: str, args: dict[str, Any], tool: Tool) -> Decision:
        verdict = policy.decide(
            name,
            args,
            workspace=workspace,
            db_path=db_path,
            touches=tool.spec.touches,
            host=tool.spec.host,  # a remote MCP server's
            written=written,
        )
        # shell, interactive, custom commands, stdio MCP servers
        starts_processes = tool.spec.touches.processes
        if escalate and starts_processes and verdict.decision == Verdict.ALLOW:
            verdict = verdict.with_builtin(
                "sandbox-unavailable",
                Verdict.ASK,
                "no sandbox is available here and the policy prefers one:"
                " this command would run unconfined",
            )
        return verdict

    return decide
