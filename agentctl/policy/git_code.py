"""What git runs besides itself: configuration given on the command line (`-c
core.pager=CMD`), subcommand options whose value is a command (`--upload-pack`, `rebase
--exec`, `grep -O`), `submodule foreach`, `bisect run`, and aliases or git-* programs it
cannot see. Part of the table in `agentctl.policy.runs_code`.
"""

from __future__ import annotations

import re

from agentctl.policy.inner import Analysis, Inner, code_source, option_value

GIT_SAFE_SUBCOMMANDS = frozenset(
    [
        "add",
        "am",
        "annotate",
        "apply",
        "archive",
        "bisect",
        "blame",
        "branch",
        "bundle",
        "cat-file",
        "check-attr",
        "check-ignore",
        "check-mailmap",
        "checkout",
        "cherry",
        "cherry-pick",
        "clean",
        "clone",
        "commit",
        "commit-graph",
        "commit-tree",
        "config",
        "count-objects",
        "describe",
        "diff",
        "diff-files",
        "diff-index",
        "diff-tree",
        "fetch",
        "for-each-ref",
        "format-patch",
        "fsck",
        "gc",
        "grep",
        "hash-object",
        "help",
        "init",
        "log",
        "ls-files",
        "ls-remote",
        "ls-tree",
        "merge",
        "merge-base",
        "mktag",
        "mktree",
        "mv",
        "name-rev",
        "notes",
        "prune",
        "pull",
        "push",
        "range-diff",
        "read-tree",
        "rebase",
        "reflog",
        "remote",
        "repack",
        "replace",
        "reset",
        "restore",
        "rev-list",
        "rev-parse",
        "revert",
        "rm",
        "shortlog",
        "show",
        "show-branch",
        "show-ref",
        "sparse-checkout",
        "stash",
        "status",
        "stripspace",
        "submodule",
        "switch",
        "symbolic-ref",
        "tag",
        "update-index",
        "update-ref",
        "var",
        "verify-commit",
        "verify-pack",
        "verify-tag",
        "version",
        "whatchanged",
        "worktree",
        "write-tree",
        "difftool",
    ]
)
GIT_GLOBAL_VALUE_OPTS = frozenset(
    {"-C", "--git-dir", "--work-tree", "--namespace", "--super-prefix", "--list-cmds"}
)
# Configuration whose value is a command git runs.
_GIT_COMMAND_KEYS = re.compile(
    r"^(core\.(pager|editor|sshcommand|fsmonitor|askpass|gitproxy|alternaterefscommand)"
    r"|sequence\.editor|diff\.external|diff\..+\.(command|textconv)|merge\..+\.driver"
    r"|filter\..+\.(clean|smudge|process)|credential\.(.+\.)?helper|gpg\.(.+\.)?program"
    r"|pager\..+|interactive\.difffilter|uploadpack\.packobjectshook|remote\..+\.(receivepack"
    r"|uploadpack|proxy)|man\..+\.cmd|web\.browser|browser\..+\.cmd|(diff|merge)tool\..+\.cmd"
    r"|alias\..+)$"
)
# Configuration that makes git load other configuration or programs we cannot see.
_GIT_UNKNOWN_KEYS = re.compile(
    r"^(include\.path|includeif\..+\.path|core\.hookspath|core\.worktree|protocol\..*allow"
    r"|core\.sshcommand|ssh\.variant|http\..*(proxy|sslkey|cookiefile).*)$"
)
# Configuration known to run nothing (display, identity, behaviour of safe commands).
_GIT_HARMLESS_KEYS = re.compile(
    r"^(color\..+|user\.(name|email)|author\..+|committer\..+|core\.(quotepath|autocrlf"
    r"|safecrlf|filemode|abbrev|ignorecase|whitespace)|advice\..+|init\.defaultbranch"
    r"|log\..+|format\.pretty|pull\.(rebase|ff)|push\.default|diff\.(noprefix|renames"
    r"|algorithm|colormoved|mnemonicprefix)|merge\.conflictstyle|status\..+|commit\.gpgsign"
    r"|tag\.gpgsign|column\..+|i18n\..+|safe\.directory|rerere\.enabled|fetch\.prune"
    r"|grep\..+|blame\..+|branch\.sort|maintenance\.auto|gc\.auto)$"
)
# Subcommand options whose value is a command (run here, e.g. for a local path remote).
_GIT_SUB_COMMAND_OPTS = {
    "clone": ("--upload-pack", "-u", "--template"),
    "fetch": ("--upload-pack",),
    "pull": ("--upload-pack",),
    "ls-remote": ("--upload-pack",),
    "push": ("--receive-pack", "--exec"),
    "archive": ("--exec",),
    "rebase": ("--exec", "-x"),
    "difftool": ("--extcmd", "-x"),
    "grep": ("--open-files-in-pager", "-O"),
}


def _git_config_value(key: str, value: str) -> Analysis:
    key = key.lower()
    if _GIT_HARMLESS_KEYS.match(key):
        return set(), []
    if _GIT_COMMAND_KEYS.match(key):
        if key.startswith("alias."):
            return (
                ({"runs-command:git alias"}, [code_source("git alias", value[1:])])
                if value.startswith("!")
                else (set(), [])
            )
        # The command is decided as itself: the option needs no question of its own.
        flag = f"runs-command:git -c {key}"
        return {flag}, [code_source(f"git -c {key}", value) if value else Inner.unknown(key)]
    if _GIT_UNKNOWN_KEYS.match(key):
        return {"git-config"}, [Inner.unknown(f"git -c {key}")]
    return {"git-config"}, []


# Options that make git write a file (or a folder of files) where their value says.
_GIT_OUTPUT_OPTS = ("--output", "--output-directory")
_GIT_SHORT_OUTPUT = frozenset({"format-patch", "show", "log", "diff", "whatchanged"})


def git_output_paths(args: tuple[str, ...]) -> list[str]:
    """The paths git's output options write (`--output=F`, `--output-directory D`, `-o D`),
    relative to where git runs (`-C DIR` prefixes them): decided as writes of those paths."""
    folder = ""
    i = 0
    while i < len(args):
        word = args[i]
        if word == "-C" and i + 1 < len(args):
            folder = args[i + 1].rstrip("/") + "/"
            i += 2
        elif word in GIT_GLOBAL_VALUE_OPTS or word == "-c":
            i += 2
        elif word.startswith("-"):
            i += 1
        else:
            break
    sub, rest = (args[i], args[i + 1 :]) if i < len(args) else ("", ())
    names: tuple[str, ...] = _GIT_OUTPUT_OPTS + (("-o",) if sub in _GIT_SHORT_OUTPUT else ())
    found = []
    for j in range(len(rest)):
        if rest[j] == "--":
            break
        value = option_value(rest, j, names)
        if value is not None and value[0]:
            found.append(value[0] if value[0].startswith(("/", "~")) else folder + value[0])
    return found


def analyse_git(args: tuple[str, ...]) -> Analysis:
    flags: set[str] = set()
    inners: list[Inner] = []
    i = 0
    while i < len(args):
        word = args[i]
        if word == "-c" or (word.startswith("-c") and len(word) > 2 and "=" in word):
            setting = args[i + 1] if word == "-c" and i + 1 < len(args) else word[2:]
            key, _, value = setting.partition("=")
            more_flags, more = _git_config_value(key, value)
            flags |= more_flags
            inners += more
            i += 2 if word == "-c" else 1
            continue
        if word.startswith(("--config-env", "--exec-path")) and word != "--exec-path":
            flags.add("git-config")
            inners.append(Inner.unknown("git " + word.split("=", 1)[0]))
            i += 1 if "=" in word else 2
            continue
        if word in GIT_GLOBAL_VALUE_OPTS:
            i += 2
            continue
        if word.startswith("-"):
            i += 1
            continue
        break
    if i >= len(args):
        return flags, inners
    sub, rest = args[i], args[i + 1 :]
    if sub not in GIT_SAFE_SUBCOMMANDS:
        return flags | {"git-config"}, inners  # an alias or a git-* program we cannot see
    if (
        sub == "config"
        and not any(a in ("--get", "--get-all", "--list", "-l", "--get-regexp") for a in rest)
        and len([a for a in rest if not a.startswith("-")]) > 1
    ):
        flags.add("git-config")  # writes configuration that later commands run
    for j in range(len(rest)):
        found = option_value(rest, j, _GIT_SUB_COMMAND_OPTS.get(sub, ()))
        if found is not None:
            flags.add(f"runs-command:git {sub}")
            inners.append(code_source(f"git {sub}", found[0]) if found[0] else Inner.unknown(sub))
    if sub == "submodule" and "foreach" in rest:
        flags.add("runs-command:git submodule")
        inners.append(
            code_source("git submodule foreach", " ".join(rest[rest.index("foreach") + 1 :]))
        )
    if sub == "bisect" and rest[:1] == ("run",):
        flags.add("runs-command:git bisect")
        inners.append(Inner("git bisect run", words=rest[1:]))
    return flags, inners


# Subcommands that print what a `REV:PATH` object (or a `-L…:PATH` range) holds.
_GIT_OBJECT_READERS = frozenset(
    {
        "archive",
        "blame",
        "cat-file",
        "diff",
        "diff-tree",
        "difftool",
        "format-patch",
        "grep",
        "log",
        "ls-tree",
        "shortlog",
        "show",
        "whatchanged",
    }
)
# Options whose separate value is a pattern or text, never an object name.
_GIT_TEXT_OPTS = frozenset({"-e", "-f", "--grep", "--author", "--committer", "-S", "-G"})
_STAGE = re.compile(r"^:[0-3]:")


def _git_subcommand(args: tuple[str, ...]) -> int:
    """The index of git's subcommand in `args` (len(args) when there is none)."""
    i = 0
    while i < len(args):
        word = args[i]
        if word in ("-c", *GIT_GLOBAL_VALUE_OPTS) or (
            word.startswith("--config-env") and "=" not in word
        ):
            i += 2
        elif word.startswith("-"):
            i += 1
        else:
            return i
    return i


def git_object_paths(args: tuple[str, ...]) -> list[str]:
    """The paths in the repository a git command reads through its object names: `HEAD:.env`,
    `:0:.env`, `main~2:config/.env.prod`, `-L1,3:.env`. Each is a read of that path (relative
    to the top of the repository) as much as `cat PATH` is; pathspecs after `--` are ordinary
    words already."""
    at = _git_subcommand(args)
    if at >= len(args) or args[at] not in _GIT_OBJECT_READERS:
        return []
    rest = args[at + 1 :]
    found: list[str] = []
    skip = False
    for j, word in enumerate(rest):
        if skip:
            skip = False
            continue
        if word == "--":
            break
        if word.startswith("-L"):
            value = word[2:] or (rest[j + 1] if j + 1 < len(rest) else "")
            skip = not word[2:]
            if ":" in value:
                found.append(value.rsplit(":", 1)[1])
            continue
        if word in _GIT_TEXT_OPTS:
            skip = True
            continue
        if word.startswith("-") or ":" not in word or "://" in word:
            continue
        path = word[3:] if _STAGE.match(word) else word.split(":", 1)[1]
        if path:
            found.append(path)
    return found


__all__ = ["GIT_SAFE_SUBCOMMANDS", "analyse_git", "git_object_paths", "git_output_paths"]
