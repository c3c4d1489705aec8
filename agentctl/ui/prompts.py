"""What a person sees at the end of a run and when asked to approve an action."""

from __future__ import annotations

import json
import sys
from typing import Any

from agentctl.ui.plain import make_visible


def show_outcome(outcome: Any) -> None:
    job = outcome.job_id
    out = sys.stdout
    if outcome.state == "succeeded":
        print(f"job {job} succeeded", file=out)
    elif outcome.state == "failed":
        error = outcome.error or {}
        print(f"job {job} failed ({error.get('type')}): {make_visible(error.get('message', ''))}",
              file=out)
        print(f"hint: see what happened with `agentctl log {job}`", file=sys.stderr)
    elif outcome.state == "awaiting_approval":
        print(f"job {job} is waiting for approval:", file=out)
        for request in outcome.pending:
            print(f"  {request['request']}: {make_visible(request['reason'])}", file=out)
            if request.get("tool"):
                args = json.dumps(request.get("args", {}), ensure_ascii=False)
                print(f"    {request['tool']} {make_visible(args)}", file=out)
            print(f"  approve: agentctl approve {job} {request['request']}", file=out)
            print(f"  deny:    agentctl deny {job} {request['request']}", file=out)
        print(f"  then:    agentctl resume {job}", file=out)
    elif outcome.state == "cancelled":
        print(f"job {job} cancelled", file=out)
    elif outcome.state == "interrupted":
        print(f"job {job} interrupted; continue it with `agentctl resume {job}`", file=out)


def ask_approval(request: dict[str, Any]) -> str | None:
    """Ask on the terminal; "approve", "deny", or None when the terminal is gone."""
    err = sys.stderr
    print(f"\napproval {request['request']} needed: {make_visible(request['reason'])}", file=err)
    if request.get("tool"):
        args = json.dumps(request.get("args", {}), ensure_ascii=False, indent=2)
        print(f"  tool: {request['tool']}\n  args: {make_visible(args)}", file=err)
    while True:
        print("approve? [y]es / [n]o: ", end="", file=err, flush=True)
        try:
            answer = input().strip().lower()
        except EOFError:
            return None
        if answer in ("y", "yes", "a", "approve"):
            return "approve"
        if answer in ("n", "no", "d", "deny"):
            return "deny"
