"""Cloning a job's workspace from git (`--workspace git+URL#REV`) and pushing its result as a
branch (`--push-branch`): the one place agentctl runs git for itself (the git a job runs goes
through the policy and the sandbox)."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path

from agentctl.errors import AgentctlError

CLONE_TIMEOUT_S = 600.0


def _git(args: list[str], *, cwd: Path | None = None, timeout: float = CLONE_TIMEOUT_S) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}  # never prompt
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise AgentctlError(
            "git is not installed here", "install git, or give a local folder"
        ) from None
    except subprocess.TimeoutExpired:
        raise AgentctlError(
            f"git {args[0]} took longer than {timeout:g} s", "check the URL and the network"
        ) from None
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        raise AgentctlError(
            f"git {args[0]} failed: {said[-1] if said else f'exit {done.returncode}'}",
            "check the URL and the revision (a branch, a tag or a commit)",
        )
    return done.stdout.strip()


def clone_at(url: str, ref: str | None, dest: Path) -> str:
    """Clone `url` into `dest` (made whole or not at all: cloned beside it, then renamed),
    check out `ref` (a branch, tag or commit; the default branch when None) detached, and
    return the commit checked out. An existing `dest` is left as it is."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    temp = dest.parent / f".{dest.name}.clone-{secrets.token_hex(4)}"
    try:
        _git(["clone", "--quiet", "--", url, str(temp)])
        if ref:
            try:
                _git(["checkout", "--quiet", "--detach", ref], cwd=temp)
            except AgentctlError:  # a branch of the remote that is not the default one
                _git(["checkout", "--quiet", "--detach", f"origin/{ref}"], cwd=temp)
        commit = _git(["rev-parse", "HEAD"], cwd=temp)
        try:
            os.rename(temp, dest)
        except OSError:
            if not dest.is_dir():
                raise
        return commit
    finally:
        shutil.rmtree(temp, ignore_errors=True)


# What git refuses in a branch name (git check-ref-format), checked before a job is made.
_BAD_BRANCH = re.compile(
    r"(^[-/.])|([/.]$)|(\.\.)|(//)|(@\{)|(\.lock$)|(/\.)|[\x00-\x20\x7f~^:?*\[\\]"
)


def branch_name_problem(name: str) -> str | None:
    """Why git would refuse `name` as a branch, or None."""
    if not name or _BAD_BRANCH.search(name) or name == "@":
        return (
            "git does not take it as a branch name (no spaces, `..`, `~^:?*[\\`, or a leading `-`)"
        )
    return None


def commit_and_push(folder: Path, branch: str, *, message: str) -> tuple[str, int]:
    """Commit everything changed in the clone at `folder` (what its .gitignore keeps out
    stays out) and push it to its origin as `branch`, never forced: a branch that exists
    there and is not an ancestor is refused. Returns the commit pushed and how many files it
    changed (0: nothing to commit; the branch then names the cloned commit)."""
    _git(["add", "--all"], cwd=folder)
    changed = [
        line for line in _git(["diff", "--cached", "--name-only"], cwd=folder).splitlines() if line
    ]
    if changed:
        # The author: GIT_AUTHOR_NAME/EMAIL (and the COMMITTER ones) win over these defaults.
        who = ["-c", "user.name=agentctl", "-c", "user.email=agentctl@localhost"]
        _git([*who, "commit", "--quiet", "--no-verify", "-m", message], cwd=folder)
    commit = _git(["rev-parse", "HEAD"], cwd=folder)
    _git(["push", "--quiet", "origin", f"HEAD:refs/heads/{branch}"], cwd=folder)
    return commit, len(changed)
