"""A policy's own `tests:`: each example action decided by that policy alone, in a fresh
folder holding its `workspace_files`, against the decision it expects (`agentctl validate`)."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentctl.policy.rules import Policy, PolicySet, Symlink
from agentctl.policy.votes import Decision, Verdict


@dataclass(frozen=True)
class TestFailure:
    __test__ = False  # not a pytest test class, despite the name
    file: str
    line: int | None
    column: int | None
    index: int  # 0-based position in tests:
    tool: str
    args: dict[str, Any]
    expected: Verdict
    got: Decision

    def message(self) -> str:
        where = (
            self.file
            + (f":{self.line}" if self.line else "")
            + (f":{self.column}" if self.line and self.column else "")
        )
        return (
            f"{where}: test {self.index + 1} ({self.tool} {json.dumps(self.args)}) expected "
            f"{self.expected}, got {self.got.decision}: {self.got.reason} "
            f"[rules: {', '.join(self.got.rules)}]"
        )


def _write_workspace_files(folder: Path, files: dict[str, str | Symlink]) -> None:
    for name, content in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Symlink):
            target.symlink_to(content.symlink)
        else:
            target.write_text(content, encoding="utf-8")


def run_policy_tests(target: Policy | PolicySet, workspace: Path) -> list[TestFailure]:
    """Run the `tests:` of a policy (or of each policy in a set, each against its own policy)
    in fresh folders under `workspace`; return the tests whose decision differs."""
    policies = (
        [target] if isinstance(target, Policy) else ([] if target.is_default else target.policies)
    )
    failures = []
    for policy in policies:
        alone = PolicySet([policy])
        for i, test in enumerate(policy.tests):
            folder = Path(tempfile.mkdtemp(prefix=f"policy-test-{i + 1}-", dir=workspace))
            _write_workspace_files(folder, test.workspace_files)
            got = alone.decide(test.tool, test.args, workspace=folder)
            if got.decision != test.expect:
                line, column = policy.test_position(i)
                failures.append(
                    TestFailure(
                        policy.file, line, column, i, test.tool, dict(test.args), test.expect, got
                    )
                )
    return failures


__all__ = ["TestFailure", "run_policy_tests"]
