"""How the shipped policies do on real commands (tests/security/commands.txt).

Decides every command of the corpus under each shipped policy, in a fresh workspace under the
system's temporary folder (as `mktemp -d` makes one), and prints:
- the share of everyday commands each policy does not allow (goal for dev-laptop: <= 10%),
  and which ones dev-laptop does not allow, with the rule that stopped each;
- the number of reach-out / persist commands each policy allows (goal: 0 everywhere), and
  which ones, if any;
- how long deciding took per command.
The decisions are made here, not read from the corpus's expected columns (the test checks
those). Exit 1 when a goal is missed.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agentctl.policy.rules import PolicySet, load_policy  # noqa: E402

CORPUS = ROOT / "tests" / "security" / "commands.txt"
POLICIES = ("dev-laptop", "ci-safe", "read-only")
EVERYDAY_GOAL = 0.10


def load_corpus() -> tuple[list[str], dict[str, list[str]]]:
    files: list[str] = []
    sections: dict[str, list[str]] = {}
    section = ""
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("files:"):
            files = line.split(":", 1)[1].split()
        elif line.startswith("["):
            section = line.strip("[]")
            sections[section] = []
        else:
            sections[section].append(line.split(" | ", 1)[1].replace("\\n", "\n"))
    return files, sections


def main() -> int:
    files, sections = load_corpus()
    workspace = Path(tempfile.mkdtemp(prefix="policy-corpus-"))
    try:
        for name in files:
            (workspace / name).parent.mkdir(parents=True, exist_ok=True)
            (workspace / name).write_text("x\n")
        policies = {n: PolicySet([load_policy(ROOT / "policies" / f"{n}.yaml")]) for n in POLICIES}
        decided = 0
        started = time.perf_counter()
        results: dict[str, dict[str, list[tuple[str, object]]]] = {}
        for name, policy in policies.items():
            for section, commands in sections.items():
                for command in commands:
                    got = policy.decide("shell", {"command": command}, workspace=workspace)
                    results.setdefault(name, {}).setdefault(section, []).append((command, got))
                    decided += 1
        elapsed = time.perf_counter() - started
    finally:
        shutil.rmtree(workspace, ignore_errors=True)

    everyday, reach = sections["everyday"], sections["reach-out"]
    print(f"corpus: {len(everyday)} everyday commands, {len(reach)} reach-out/persist commands")
    print(f"workspace: under {tempfile.gettempdir()}\n")
    print(f"{'policy':<12} {'everyday not allowed':>22} {'reach-out allowed':>18}")
    failed = False
    for name in POLICIES:
        stopped = [c for c, d in results[name]["everyday"] if d.decision != "allow"]
        leaked = [c for c, d in results[name]["reach-out"] if d.decision == "allow"]
        share = len(stopped) / len(everyday)
        print(f"{name:<12} {len(stopped):>5} = {share:6.1%}        {len(leaked):>12}")
        failed |= bool(leaked) or (name == "dev-laptop" and share > EVERYDAY_GOAL)
        for command in leaked:
            print(f"    ALLOWED reach-out: {command}")
    print(f"\ngoals: dev-laptop everyday not allowed <= {EVERYDAY_GOAL:.0%}; reach-out allowed 0")
    print("\neveryday commands dev-laptop does not allow:")
    for command, d in results["dev-laptop"]["everyday"]:
        if d.decision != "allow":
            why = next((r for r in d.rule_objects if r["decision"] == d.decision), {})
            print(f"  {d.decision:<5} {command!r:<48} {why.get('policy')}:{why.get('id')}")
    print(f"\ndeciding: {elapsed / decided * 1000:.2f} ms per command ({decided} decisions)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
