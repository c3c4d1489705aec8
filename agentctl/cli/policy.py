"""`agentctl policy explain | add | replay`: decide one action, tighten a live job, re-judge a job.

`explain POLICY... [--workspace DIR] [--json] -- TOOL ARG=VALUE...`:

Shows the decision the policies make for one action and every rule that voted (built-in
ones too), each with its reason; `--json` shows each rule as an object. The words
after `--` are the action; they never reach the option parser, so `command=rm -rf /` or an
argument starting with `-` is taken as written.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from agentctl.cli.app import app
from agentctl.cli.options import DbOption, DebugOption, JobArgument, JsonOption, open_store
from agentctl.errors import UsageError
from agentctl.policy.votes import rule_label, rule_labels

policy_app = typer.Typer(
    name="policy", help="Inspect policies: which rules decide an action.", no_args_is_help=True
)
app.add_typer(policy_app, name="policy")

_ACTION_KEY = "agentctl.policy.rules.action"
_USAGE = 'agentctl policy explain POLICY... -- shell command="git status"'


class _ActionAfterDashes(TyperCommand):
    """Takes the words after `--` (the action) out before the options are parsed."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if "--" in args:
            cut = args.index("--")
            ctx.meta[_ACTION_KEY] = args[cut + 1 :]
            args = args[:cut]
        else:
            ctx.meta[_ACTION_KEY] = None
        return super().parse_args(ctx, args)


def parse_action(words: list[str] | None) -> tuple[str, dict[str, str]]:
    """TOOL ARG=VALUE... -> (tool, args); every value is a string."""
    if not words:
        raise UsageError("no action given after `--`", f"for example: {_USAGE}")
    tool, pairs = words[0], words[1:]
    if "=" in tool:
        raise UsageError(
            f'"{tool}" is not a tool name; the action starts with the tool',
            f"for example: {_USAGE}",
        )
    args: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(
                f'bad action argument "{pair}": expected ARG=VALUE',
                'quote values with spaces: command="git status"',
            )
        if key in args:
            raise UsageError(f'action argument "{key}" given twice', "give each ARG once")
        args[key] = value
    from agentctl.tools.builtin import builtin_spec

    # What the policy reads (a path, URL or command) must be given when the tool requires it.
    spec = builtin_spec(tool)
    needed = spec.subject_arg if spec is not None else None
    if needed and spec is not None and needed in spec.required_args and needed not in args:
        raise UsageError(
            f"{tool} needs {needed}=...",
            f"for example: agentctl policy explain POLICY -- {tool} {needed}=...",
        )
    return tool, args


@policy_app.command(cls=_ActionAfterDashes)
def explain(
    ctx: typer.Context,
    policies: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Policy files (none: the built-in default policy).", metavar="POLICY..."
        ),
    ] = None,
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace", help="Resolve paths against this folder (default: the current one)."
        ),
    ] = None,
    json_output: JsonOption = False,
    db: DbOption = None,
    debug: DebugOption = False,
) -> None:
    """The decision for one action (allow, ask or deny) and the rules that made it.

    The action follows `--`: the tool, then ARG=VALUE pairs, e.g.
    `agentctl policy explain policies/ci-safe.yaml -- shell command="git push origin main"`.
    Exits 0 whatever the decision.
    """
    from agentctl.cli.options import GLOBAL
    from agentctl.paths import resolve_db_target
    from agentctl.policy.rules import PolicySet

    tool, args = parse_action(ctx.meta.get(_ACTION_KEY))
    _note_unknown_tool(tool)
    folder = workspace or Path(os.getcwd())
    if not folder.is_dir():
        raise UsageError(
            f"workspace {folder} is not a directory", "pass an existing folder with --workspace"
        )
    policy_set = PolicySet.from_files(policies or [])
    target = resolve_db_target(db or GLOBAL.db)
    decision = policy_set.decide(
        tool, args, workspace=folder, db_path=target if isinstance(target, Path) else None
    )
    if json_output:
        print(json.dumps(decision.to_dict(), indent=2))
        return
    print(f"{decision.decision}  {tool} {json.dumps(args)}")
    names = ", ".join(p.name for p in policy_set.policies)
    print(f"policies: {names}" + (" (built-in default)" if policy_set.is_default else ""))
    print("rules:")
    for rule in decision.rule_objects:
        reason = rule.get("reason")
        print(f"  {rule_label(rule)}" + (f": {reason}" if reason else ""))
    print(f"reason: {decision.reason}")


def _note_unknown_tool(tool: str) -> None:
    """A tool that is no built-in is decided as written (a recipe's command tool or an MCP
    tool may have any name), but a person hears that it is none, with the closest name."""
    from agentctl.errors import suggest
    from agentctl.tools.builtin import builtin_registry

    names = builtin_registry().names()
    if tool in names or "__" in tool:  # `server__tool`: an MCP tool's name
        return
    close = suggest(tool, list(names))
    print(
        f"note: `{tool}` is not a built-in tool; it is decided as a recipe's or an MCP"
        f" server's tool of that name would be{'; ' + close if close else ''}",
        file=sys.stderr,
    )


PolicyFiles = Annotated[list[Path], typer.Argument(help="Policy files.", metavar="POLICY...")]


@policy_app.command("add")
def add(
    job: JobArgument,
    policies: PolicyFiles,
    json_output: JsonOption = False,
    db: DbOption = None,
    debug: DebugOption = False,
) -> None:
    """Attach policies to JOB while it runs, waits or is interrupted: tighten, never loosen.

    A running job applies them from its next action; a parked or interrupted one when it
    resumes. They vote beside the job's other policies (the strictest decision wins). A
    pending approval whose action they deny is void. Example, revoking pushes mid-job:
    `agentctl policy add last no-push.yaml`.
    """
    import time

    from agentctl.engine.approvals import describe_decider
    from agentctl.engine.policy_updates import add_policies

    store = open_store(db, create=False)
    job_id = store.find_job(job)
    added = add_policies(
        store, job_id, [str(p) for p in policies], by=describe_decider(), now=time.time()
    )
    state = store.get_job(job_id)["state"]
    if json_output:
        print(
            json.dumps(
                {"job": job_id, "state": state, "policies": added.policies, "voided": added.voided},
                indent=2,
            )
        )
        return
    for path in added.policies:
        print(f"added policy {path} to job {job_id}")
    for item in added.voided:
        print(f"voided approval {item['request']} ({item['tool']}): the added policy denies it")
    if state == "running":
        print("the running job applies it from its next action")
    elif state == "interrupted" and added.voided:
        print(
            f"nothing is left to approve: `agentctl resume {job_id}` continues the job"
            " (the agent is told the voided action is denied)"
        )
    else:
        print(f"it applies when the job continues: `agentctl resume {job_id}`")


@policy_app.command("replay")
def replay(
    job: JobArgument,
    policies: PolicyFiles,
    json_output: JsonOption = False,
    db: DbOption = None,
    debug: DebugOption = False,
) -> None:
    """Re-decide every action JOB took under POLICY... and list the decisions that change.

    Exits 1 when an action that ran would now be denied, so CI can check a tightened policy
    against real job history before shipping it; 0 otherwise.
    """
    from agentctl.engine.policy_updates import replay_policies

    store = open_store(db, create=False)
    job_id = store.find_job(job)
    result = replay_policies(store, job_id, [str(p) for p in policies])
    if json_output:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        for action in result.changed:
            what = json.dumps(action.args, ensure_ascii=False)
            if len(what) > 120:
                what = what[:119] + "…"
            ran = "ran" if action.ran else "not run"
            print(
                f"#{action.seq} {action.step or '-'} {action.tool} {what}:"
                f" {action.was} → {action.now} ({ran})"
            )
            rules = rule_labels(action.rules) or "the default"
            print(f"    rules: {rules}")
        denied = len(result.ran_now_denied)
        print(
            f"{result.actions} actions re-decided, {len(result.changed)} would change,"
            f" {denied} that ran would now be denied"
        )
    if result.ran_now_denied:
        raise typer.Exit(1)
