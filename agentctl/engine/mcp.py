"""A run's MCP servers: started once before the first step, pinned, offered, closed at the end.

The servers the remaining agent steps name in `tools:` are started together before any step
runs, so one that cannot start stops the run (exit 2) before it does anything. Each server's
tools are then listed and compared with the pins the job recorded the first time it listed
them (`mcp_tools_pinned` events): a tool whose description or input schema changed, or a new
tool the steps would select, parks the job on an approval that names them and shows the
difference; nothing of that server is called until a person approves (the new definitions
are then pinned). A tool the job names or has used that the server no longer offers fails
the job, naming it. Tools are read-only only when the recipe (`mcp.SERVER.read_only`) or a
policy (`read_only:`) says so; a server's own annotations are never trusted.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentctl.engine.approvals import Gate
from agentctl.engine.journal import Journal, ReplayIndex
from agentctl.engine.stops import StepFailed
from agentctl.events import McpServerStarted, McpToolsPinned
from agentctl.tools.mcp_tools import (
    ListedTool,
    McpTool,
    compare_pins,
    explicit_tools,
    model_name,
    selects,
)
from agentctl.tools.registry import ToolRegistry

if TYPE_CHECKING:
    from agentctl.policy.rules import PolicySet
    from agentctl.policy.votes import Decision
    from agentctl.recipe.schema import Recipe
    from agentctl.tools.mcp_client import McpHub


def servers_needed(uses: Iterable[Mapping[str, list[str]]]) -> dict[str, list[str]]:
    """{server: the `tools:` patterns naming it} over steps' uses of MCP servers (each step's
    executor says which it uses: `engine.steps.mcp_servers`)."""
    needed: dict[str, list[str]] = {}
    for servers in uses:
        for server, patterns in servers.items():
            needed.setdefault(server, []).extend(patterns)
    return needed


def read_only_checker(recipe: Recipe, policy: PolicySet | None) -> Callable[[str], bool]:
    """Whether SERVER.TOOL is read-only: the recipe's server or a policy says so."""

    def read_only(qualified: str) -> bool:
        server, _, tool = qualified.partition(".")
        spec = recipe.mcp.get(server)
        if spec is not None and any(fnmatch.fnmatchcase(tool, g) for g in spec.read_only):
            return True
        return policy is not None and policy.declares_read_only(qualified)

    return read_only


class McpRun:
    """The MCP side of one runner; `hub` is an McpHub (or a stand-in with its methods)."""

    def __init__(
        self,
        *,
        hub: McpHub,
        journal: Journal,
        index: ReplayIndex,
        gate: Gate,
        read_only: Callable[[str], bool],
    ):
        self.hub = hub
        self.journal = journal
        self.index = index
        self.gate = gate
        self.read_only = read_only
        self.listings: dict[str, list[ListedTool]] = {}

    def start(
        self, uses: Sequence[tuple[str, Mapping[str, list[str]]]], selected: Mapping[str, list[str]]
    ) -> None:
        """Start, list and check the pins of every server the remaining steps use: `uses`
        holds (step id, {server: patterns}) for each of them.

        Pins cover what any step of the recipe selects (`selected`), so a resume with fewer
        steps left compares the same tools."""
        needed = servers_needed(servers for _, servers in uses)
        if not needed:
            return
        self.hub.start(list(needed))
        for server in needed:
            patterns = selected[server]
            plan = self.hub.plans[server]
            self.journal.add(
                McpServerStarted(
                    server=server,
                    transport="http" if plan.url else "stdio",
                    target=plan.describe(),  # never the headers
                    confinement=self.hub.confinement(server) if not plan.url else None,
                )
            )
            self.journal.commit()
            listed = self.hub.list_tools(server)
            self.listings[server] = listed
            first_step = next(step for step, servers in uses if server in servers)
            self._check_pins(server, patterns, listed, first_step)

    def _check_pins(
        self, server: str, patterns: list[str], listed: list[ListedTool], step: str
    ) -> None:
        offered = {t.name: t.pinned() for t in listed if selects(patterns, server, t.name)}
        all_names = {t.name for t in listed}
        used = {
            started.tool.partition(".")[2]
            for started in self.index.started.values()
            if started.tool.startswith(f"{server}.")
        }
        missing = sorted(
            (set(explicit_tools(patterns, server)) | used) - all_names,
        )
        if missing:
            names = ", ".join(f"{server}.{n}" for n in missing)
            raise StepFailed(
                f"MCP server {server} does not offer {names}, which this job uses",
                f"check the server, or remove {names} from the recipe's tools:",
            )
        pinned = self.index.pins.get(server)
        if pinned is None:
            self._pin(server, offered, step, None)
            return
        change = compare_pins(server, pinned, offered)
        if not change:
            if change.removed:
                self._pin(server, offered, step, None)
            return
        shown = [f"{server}.{n}" for n in change.changed + change.added]
        digest = hashlib.sha256(
            json.dumps(offered, sort_keys=True, ensure_ascii=False).encode()
        ).hexdigest()[:16]
        what = []
        if change.changed:
            what.append("changed " + ", ".join(f"{server}.{n}" for n in change.changed))
        if change.added:
            what.append("added " + ", ".join(f"{server}.{n}" for n in change.added))
        answer, record = self.gate.require(
            step=step,
            key=f"mcp/{server}/pins/{digest}",
            tool=None,
            args={
                "server": server,
                "changed": [f"{server}.{n}" for n in change.changed],
                "added": [f"{server}.{n}" for n in change.added],
                "diff": change.diff,
            },
            reason=(
                f"MCP server {server} {' and '.join(what)} since this job pinned its tools;"
                " nothing of it is called until a person approves the new definitions"
            ),
        )
        if answer == "deny":
            raise StepFailed(
                f"the changed tools of MCP server {server} ({', '.join(shown)}) were refused"
                f" by {record.get('decided_by') or 'a person'}",
                "the job cannot use them; start a new run once the server is trusted again",
            )
        self._pin(server, offered, step, record.get("request"))

    def _pin(self, server: str, offered: dict[str, Any], step: str, request: str | None) -> None:
        self.journal.add(
            McpToolsPinned(server=server, tools=offered, approval=request or None), step
        )
        self.journal.commit()
        self.index.pins[server] = offered

    def register_tools(self, registry: ToolRegistry) -> None:
        """Register every tool the run's servers listed (a step selects them by name)."""
        for server, listed in self.listings.items():
            plan = self.hub.plans[server]
            for entry in listed:
                tool = McpTool(
                    entry,
                    hub=self.hub,
                    model_name=model_name(server, entry.name),
                    read_only=self.read_only(entry.qualified),
                    host=plan.host,
                    timeout=plan.timeout,
                )
                registry.register(tool, default=False)

    def close(self) -> None:
        self.hub.close()


def describe_mcp_tools(
    recipe_file: str,
    policy_files: list[str],
    *,
    workspace: Path,
    env: Mapping[str, str],
    db_path: Path | None = None,
) -> list[dict[str, Any]]:
    """`agentctl mcp tools`: start every server of a recipe, describe each tool with the
    decision the policies give a call to it (no arguments), and stop the servers."""
    from agentctl.engine.context import sandbox_settings_for
    from agentctl.engine.policy_files import load_policy_snapshots
    from agentctl.errors import UsageError
    from agentctl.policy.rules import PolicySet, load_policy_text
    from agentctl.recipe.load import load_recipe
    from agentctl.tools.mcp_client import McpHub, plan_servers

    loaded = load_recipe(recipe_file)
    recipe = loaded.recipe
    if not recipe.mcp:
        raise UsageError(
            f"{recipe_file} declares no MCP servers",
            "add an mcp: section (see README: MCP servers)",
        )
    snapshots = load_policy_snapshots(loaded, policy_files)
    policy = PolicySet([load_policy_text(s["text"], s["path"]) for s in snapshots])
    read_only = read_only_checker(recipe, policy)
    plans = plan_servers(
        recipe.mcp,
        env=env,
        workspace=workspace,
        sandbox=sandbox_settings_for(policy, workspace, db_path),  # as a job's would be
    )
    rows: list[dict[str, Any]] = []
    taken: set[str] = set()
    with McpHub(plans) as hub:
        hub.start(list(plans))
        for server, plan in plans.items():
            for tool in hub.list_tools(server):
                decision = policy.decide(
                    tool.qualified, {}, workspace=workspace, db_path=db_path, host=plan.host
                )
                shown = model_name(server, tool.name, taken)
                taken.add(shown)
                rows.append(_tool_row(tool, shown, read_only(tool.qualified), decision))
    return rows


def _tool_row(tool: ListedTool, shown: str, read_only: bool, decision: Decision) -> dict[str, Any]:
    """One row of `agentctl mcp tools`: a listed tool, the name the model sees, the decision
    a call to it gets."""
    return {
        "server": tool.server,
        "tool": tool.qualified,
        "model_name": shown,
        "description": tool.description,
        "input_schema": tool.input_schema,
        "read_only": read_only,
        "annotations": tool.annotations,
        "pin": tool.pin,
        "decision": decision.decision,
        "rules": decision.rules,
    }
