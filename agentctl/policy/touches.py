"""What one action touches: the paths, hosts and commands a policy decides, read from the
tool's spec and arguments, and the built-in votes that hold under any policy.

Owns turning an action into parts (a shell command's simple commands, each with the paths it
touches and a part per file a redirect writes; a file tool's path; an http_get host; any
path-like argument of a tool that declares nothing), resolving each path (symlinks followed,
`..` collapsed, relative to the workspace or not), and the built-in protections that no rule
can loosen (secret files, the job database, hard links, .git internals, commands that cannot
be proven harmless, private addresses). Which rules match a part, and how votes combine, is
`agentctl.policy.match`; this module never imports it.
"""

from __future__ import annotations

import glob
import os
import re
import stat
import urllib.parse
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from typing import Any

from agentctl.policy.git_code import git_object_paths, git_output_paths
from agentctl.policy.globs import glob_regex
from agentctl.policy.inner import HOLE
from agentctl.policy.patterns import globs_intersect
from agentctl.policy.protected import GIT_NAME, hooks_paths, protected_reason
from agentctl.policy.shellwords import SimpleCommand, parse_command
from agentctl.policy.votes import Verdict, Vote
from agentctl.policy.words import describe_flag, flag_asks
from agentctl.policy.written_code import job_code_run
from agentctl.tools.base import Touches
from agentctl.tools.builtin import builtin_spec
from agentctl.workspace import realpath_below

# Files no action may touch, whatever a rule allows (matched case-insensitively).
SECRET_GLOBS = ("**/.env", "**/.env.*", "**/id_rsa*", "**/id_ed25519*", "**/*.pem", "**/*.key")
# Writing these lets the next `git status` run anything (hooks, core.fsmonitor, aliases).
GIT_INTERNAL_GLOBS = ("**/.git/config", "**/.git/hooks/**")
# Device files every shell uses; they are not places a command can leave data.
DEVICES = {
    "/dev/null",
    "/dev/zero",
    "/dev/stdin",
    "/dev/stdout",
    "/dev/stderr",
    "/dev/tty",
    "/dev/random",
    "/dev/urandom",
    "/dev/fd/0",
    "/dev/fd/1",
    "/dev/fd/2",
    "-",
}
MAX_GLOB_MATCHES = 500
GLOB_CHARS = re.compile(r"[*?\[]")
_SECRET_RE = tuple(glob_regex(g, ignore_case=True) for g in SECRET_GLOBS)
_GIT_RE = tuple(glob_regex(g) for g in GIT_INTERNAL_GLOBS)


@dataclass(frozen=True)
class TouchedPath:
    raw: str  # as the action gave it
    absolute: str  # resolved: symlinks followed, `..` collapsed
    literal: str  # absolute but symlinks not followed (a link's own name counts too)
    rel: str | None  # relative to the workspace, None when outside it
    writes: bool = False
    redirect: bool = False
    unknown: str | None = None  # the word as given, when part of it is an unknown value
    root: str = ""  # the workspace it was resolved against (named when it is outside)


@dataclass
class Part:
    """One thing a policy decides: a simple command of a shell action, or a whole action."""

    text: str
    command: SimpleCommand | None = None
    paths: list[TouchedPath] = field(default_factory=list)
    host: str | None = None
    votes: list[Vote] = field(default_factory=list)  # built-in votes, the same for every policy
    tool: str | None = None  # decide this part as another tool (a redirect as write_file)
    on_path: bool = False  # the action is access to its one path (a file tool, a redirect)
    recipe_host: bool = False  # `host` comes from the recipe (an MCP server), not the model
    paths_only: bool = False  # only `paths:` rules decide it (an observed change's path)


def resolve_path(
    raw: str, root: str, *, writes: bool = False, redirect: bool = False
) -> TouchedPath:
    """Where `raw` (relative to the workspace `root`, absolute, or `~...`) really is.

    `root` is resolved already (`os.path.realpath`, once per job): a relative `raw` is
    resolved from it, so only its own names are looked at, not every folder above the
    workspace again."""
    expanded = os.path.expanduser(raw) if raw.startswith("~") else raw
    joined = os.path.join(root, expanded)
    if "\0" in joined:  # cannot name a real file; the built-in votes deny it
        return TouchedPath(raw, joined, joined, None, writes, redirect, root=root)
    below = None if os.path.isabs(expanded) else realpath_below(root, expanded)
    absolute = below or os.path.realpath(joined)
    inside = absolute == root or absolute.startswith(root.rstrip(os.sep) + os.sep)
    rel = os.path.relpath(absolute, root) if inside else None
    return TouchedPath(raw, absolute, os.path.normpath(joined), rel, writes, redirect, root=root)


def _looks_like_path(word: str, root: str, sensitive: frozenset[str] = frozenset()) -> bool:
    if not word or word in DEVICES:
        return False
    # Secret and database names count even before they exist (a .env about to be written).
    return (
        "/" in word
        or word.startswith("~")
        or ".." in word
        or word in sensitive
        or protected_reason(word) is not None
        or any(r.fullmatch(word) for r in _SECRET_RE)
        or os.path.lexists(os.path.join(root, word))
    )


def _expand_glob(pattern: str, root: str) -> list[str]:
    """What the shell would expand `pattern` to, when that is inside the workspace (a glob
    outside it is denied as written anyway, so the file system there is not walked)."""
    pattern = os.path.expanduser(pattern) if pattern.startswith("~") else pattern
    head = GLOB_CHARS.split(pattern, 1)[0]
    fixed = head.rsplit("/", 1)[0] if "/" in head else ""
    if resolve_path(fixed or ("/" if pattern.startswith("/") else "."), root).rel is None:
        return []
    found = []
    for match in glob.iglob(pattern, root_dir=None if os.path.isabs(pattern) else root):
        found.append(match)
        if len(found) >= MAX_GLOB_MATCHES:
            break
    return found


def _word_paths(
    word: str,
    root: str,
    sensitive: frozenset[str] = frozenset(),
    *,
    writes: bool = False,
    redirect: bool = False,
) -> list[TouchedPath]:
    """Paths a word may name: itself, the value of `--opt=VALUE` or `key=VALUE`, the rest of
    `-oVALUE`; glob patterns expanded the way the shell would."""
    candidates = [word]
    if not redirect and "=" in word:
        candidates.append(word.split("=", 1)[1])
    if not redirect and word.startswith("-") and not word.startswith("--") and len(word) > 2:
        candidates.append(word[2:])
    out: list[TouchedPath] = []
    for cand in candidates:
        if HOLE in cand:
            out += _unknown_paths(cand, root, writes=writes, redirect=redirect)
            continue
        matches = _expand_glob(cand, root) if GLOB_CHARS.search(cand) else []
        if matches:
            out += [resolve_path(m, root, writes=writes, redirect=redirect) for m in matches]
        elif redirect or _looks_like_path(cand, root, sensitive):
            out.append(resolve_path(cand, root, writes=writes, redirect=redirect))
    return out


def _unknown_paths(word: str, root: str, *, writes: bool, redirect: bool) -> list[TouchedPath]:
    """A word with an unknown part, as far as it can be known: its known leading folders
    (`/etc/$X` touches /etc), and the word itself marked unknown, which secret-file names and
    deny rules are matched against. A word without a known `/` (`$f`, `"$name.txt"`) is not
    taken for a path, unless a redirect writes to it: the sandbox confines what it names."""
    if "/" not in word.replace(HOLE, "") and not word.startswith("~") and not redirect:
        return []  # `$f`, `"$name-x"`: not known to be a path
    known = word.split(HOLE, 1)[0]
    folder = known.rsplit("/", 1)[0] if "/" in known else ""
    out = []
    if folder or known.startswith(("/", "~")):
        out.append(resolve_path(folder or known[:1], root, writes=writes, redirect=redirect))
    # Its name is matched against secret names and rules only when part of it is known
    # (`$dir/.env`): a name that is all unknown (find's `./{}`) is decided by its folder.
    if word.rsplit("/", 1)[-1].replace(HOLE, "") or redirect:
        path = resolve_path(".", root, writes=writes, redirect=redirect)
        out.append(replace(path, raw=word, unknown=word))
    return out


def command_paths(
    command: SimpleCommand, root: str, sensitive: frozenset[str] = frozenset()
) -> list[TouchedPath]:
    """Every path a simple command touches: redirect targets and path-like arguments."""
    paths = [
        p
        for r in command.redirects
        if r.is_file and r.target not in DEVICES
        for p in _word_paths(r.target, root, writes=r.writes, redirect=True)
    ]
    if command.name == "git":  # --output=FILE, format-patch -o DIR: writes, as a redirect is
        for raw in git_output_paths(command.args):
            paths += _word_paths(raw, root, writes=True, redirect=True)
    program = command.program
    if "/" in program and not program.startswith("/") and HOLE not in program:
        paths.append(resolve_path(program, root))  # ./script, ../bin/tool, ~/bin/tool
    for arg in command.args:
        paths += _word_paths(arg, root, sensitive)
    if command.name == "git":  # `git show HEAD:.env` reads .env as much as `cat .env` does
        paths += [resolve_path(p, root) for p in git_object_paths(command.args) if HOLE not in p]
    if command.name in ("cd", "pushd") and not [a for a in command.args if not a.startswith("-")]:
        paths.append(resolve_path("~", root))  # a bare `cd` goes home
    return paths


def _string_paths(args: dict[str, Any], root: str, sensitive: frozenset[str]) -> list[TouchedPath]:
    return [
        p
        for value in args.values()
        if isinstance(value, str)
        for p in _word_paths(value, root, sensitive)
    ]


def _shell_parts(command: object, root: str, sensitive: frozenset[str]) -> list[Part]:
    """One part per simple command, and one per file a redirect writes (as write_file)."""
    if not isinstance(command, str):
        return [
            Part(
                "shell",
                votes=[
                    Vote.builtin(Verdict.DENY, "bad-arguments", "shell needs a string `command`")
                ],
            )
        ]
    parsed = parse_command(command)
    if parsed.unparseable is not None:
        return [
            Part(
                command,
                votes=[
                    Vote.builtin(
                        Verdict.ASK,
                        "unparseable",
                        f"the command cannot be parsed ({parsed.unparseable})",
                    )
                ],
            )
        ]
    if not parsed.commands:
        return [Part(command)]
    parts = []
    for c in parsed.commands:
        text = (c.text or " ".join(c.words)).replace(HOLE, "…")
        parts.append(Part(text, c, command_paths(c, root, sensitive)))
        # A redirect that writes a file is a file write: the rules for write_file decide
        # it too, so a read-only policy stays read-only for `echo x > file`.
        parts += [
            Part(
                f"{text} (writes {p.raw})",
                paths=[replace(p, redirect=False)],
                tool="write_file",
                on_path=True,
            )
            for p in parts[-1].paths
            if p.redirect and p.writes
        ]
    return parts


def _bad_argument(tool: str, name: str) -> Part:
    """A denied part: the tool's argument `name` is missing or not a string."""
    return Part(
        tool, votes=[Vote.builtin(Verdict.DENY, "bad-arguments", f"{tool} needs a string `{name}`")]
    )


def _interactive_parts(
    tool: str, args: dict[str, Any], root: str, sensitive: frozenset[str]
) -> list[Part]:
    """What a session starts, and what is typed into it, run as shell commands would: the
    `commands:` rules decide them, beside the rules for the tool itself."""
    parts = [Part(tool, paths=_string_paths(args, root, sensitive))]
    typed = {"start": "command", "send": "input"}.get(str(args.get("action")))
    if typed is None or typed not in args:
        return parts
    typed_parts = _shell_parts(args.get(typed), root, sensitive)
    # A session started as one program reading the terminal (`bash`, `python3`) reads what
    # is typed, and each `send` is decided: its stdin is not unknown code.
    repl = (
        typed == "command"
        and len([p for p in typed_parts if not p.command or not p.command.via]) == 1
    )
    for part in typed_parts:
        if repl and part.command is not None:
            if part.command.via.endswith("reading stdin"):
                continue
            flags = tuple(f for f in part.command.flags if "reads-stdin-code" not in f)
            part.command = replace(part.command, flags=flags)
        part.tool = part.tool or "shell"
        parts.append(part)
    return parts


def _url_part(url: object) -> Part:
    """An http(s) URL's host as a part; anything else a denied one."""
    try:
        split = urllib.parse.urlsplit(url.strip()) if isinstance(url, str) else None
        host, scheme = (split.hostname, split.scheme.lower()) if split else (None, "")
    except ValueError:  # e.g. an unclosed [IPv6 bracket
        host, scheme = None, ""
    if not host or scheme not in ("http", "https"):
        reason = f"not an http(s) URL with a host: {url!r}"
        return Part(str(url), votes=[Vote.builtin(Verdict.DENY, "bad-url", reason)])
    return Part(str(url), host=host.lower().rstrip("."))


def build_parts(
    tool: str,
    args: dict[str, Any],
    root: str,
    db_files: AbstractSet[str],
    touches: Touches | None = None,
    host: str | None = None,
    written: AbstractSet[str] = frozenset(),
) -> list[Part]:
    """The parts of an action, each with the built-in votes that hold under any policy.

    What the action reaches is read from its tool's spec (`touches`; a built-in's by name
    when not given): a command line, one path, a URL, or else any path-like argument.
    `host` is a host the tool reaches that the recipe chose (a remote MCP server), not the
    model: `hosts:` rules match it, the private-address refusal (for model-chosen URLs) not.
    `written`: the workspace files this job wrote; a command that runs one is asked."""
    sensitive = frozenset(os.path.basename(f) for f in db_files)
    if touches is None:
        spec = builtin_spec(tool)
        touches = spec.touches if spec is not None else Touches()
    if touches.terminal:
        parts = _interactive_parts(tool, args, root, sensitive)
    elif touches.command:
        command = args.get(touches.command)
        if not isinstance(command, str):
            return [_bad_argument(tool, touches.command)]
        parts = _shell_parts(command, root, sensitive)
    elif touches.path:
        raw = args.get(touches.path, touches.default_path)
        if not isinstance(raw, str):
            return [_bad_argument(tool, touches.path)]
        parts = [Part(raw, paths=[resolve_path(raw, root, writes=touches.writes)], on_path=True)]
    elif touches.url:
        parts = [_url_part(args.get(touches.url))]
    else:
        parts = [
            Part(
                tool,
                paths=_string_paths(args, root, sensitive),
                host=host.lower().rstrip(".") if host else None,
                recipe_host=bool(host),
            )
        ]
    for part in parts:
        part.votes += _builtin_votes(part, db_files, root, written)
    return parts


def write_parts(tool: str, rel: str, root: str, db_files: AbstractSet[str]) -> list[Part]:
    """An observed change of the workspace path `rel` by a `tool` action, as parts: a
    write_file of that path, and the path for the tool's own `paths:` rules."""
    path = resolve_path(rel, root, writes=True)
    text = f"{rel} (changed by {tool})"
    write = Part(text, paths=[path], tool="write_file", on_path=True)
    write.votes += _builtin_votes(write, db_files, root, frozenset())  # once: the same path
    return [write] if tool == "write_file" else [write, Part(text, paths=[path], paths_only=True)]


def _builtin_votes(
    part: Part, db_files: AbstractSet[str], root: str, written: AbstractSet[str]
) -> list[Vote]:
    """The votes that hold under any policy: on the program a part runs, and on each path."""
    command = part.command
    votes = _command_votes(part, command, root, written) if command is not None else []
    for path in part.paths:
        if "\0" in path.raw:
            votes.append(Vote.builtin(Verdict.DENY, "bad-path", "a path contains a NUL byte"))
        elif path.unknown is not None:
            votes += _unknown_path_votes(part, path)
        else:
            votes += _path_votes(part, path, db_files, root)
    return votes


def _command_votes(
    part: Part, command: SimpleCommand, root: str, written: AbstractSet[str]
) -> list[Vote]:
    """Asks for a command that runs code this job wrote, that the parser cannot prove
    harmless, or whose program is not known until it runs."""
    votes = []
    ran = job_code_run(command, root, written)
    if ran is not None:
        reason = f"`{part.text}` runs {ran}, code written by this job: no rule has seen it"
        votes.append(Vote.builtin(Verdict.ASK, "job-written-code", reason))
    asking = [f for f in command.flags if flag_asks(f)]
    if asking:
        what = ", ".join(describe_flag(f) for f in asking)
        votes.append(Vote.builtin(Verdict.ASK, "not-provably-harmless", f"`{part.text}`: {what}"))
    if command.name_unknown:
        reason = (
            f"`{part.text}`: which program runs is not known until it runs; "
            "it is decided as any program"
        )
        votes.append(Vote.builtin(Verdict.ASK, "unknown-command", reason))
    return votes


def _unknown_path_votes(part: Part, path: TouchedPath) -> list[Vote]:
    """A path with a part unknown until it runs: denied if it could be a secret file, asked
    if it is written."""
    unknown = path.unknown or ""
    votes = []
    if any(globs_intersect(unknown, g) for g in SECRET_GLOBS):
        reason = f"{unknown.replace(HOLE, '$…')} could be a secret file (.env or a private key)"
        votes.append(Vote.builtin(Verdict.DENY, "secret-file", reason))
    if path.writes:
        reason = f"`{part.text}` writes to a path that is not known until it runs"
        votes.append(Vote.builtin(Verdict.ASK, "unknown-path", reason))
    return votes


def _path_votes(part: Part, path: TouchedPath, db_files: AbstractSet[str], root: str) -> list[Vote]:
    """Secret files and the database are denied; writing git internals, a protected name
    or a file with other hard links is asked."""
    votes = []
    forms = (path.absolute, path.literal)
    if any(r.fullmatch(f) for r in _SECRET_RE for f in forms):
        reason = f"{path.raw} is a secret file (.env or a private key)"
        votes.append(Vote.builtin(Verdict.DENY, "secret-file", reason))
    if db_files & set(forms):
        votes.append(Vote.builtin(Verdict.DENY, "database", f"{path.raw} is agentctl's database"))
    # A shell argument may be written (cp, mv, sed -i): it counts as a write here.
    if not (path.writes or part.command is not None):
        return votes
    if any(r.fullmatch(f) for r in _GIT_RE for f in forms):
        reason = f"writing {path.raw} can make later git commands run anything"
        votes.append(Vote.builtin(Verdict.ASK, "git-internals", reason))
    protected = _protected_write(path, root)
    if protected is not None:
        votes.append(Vote.builtin(Verdict.ASK, "protected-name", protected))
    if path.rel is not None and _is_hardlinked(path.absolute):
        reason = f"{path.raw} has other hard links, maybe outside the workspace"
        votes.append(Vote.builtin(Verdict.ASK, "hardlink", reason))
    return votes


def _protected_write(path: TouchedPath, root: str) -> str | None:
    """Why writing `path` is a protected write (its name as written, and where it leads).
    An existing `.git` folder named as an argument (`git --git-dir .git`, `ls .git`) is not
    one: what is planted inside it is decided by name (`.git/config`, `.git/hooks/`)."""
    forms = {path.rel} if path.rel is not None else set()
    if path.literal.startswith(root.rstrip(os.sep) + os.sep):
        forms.add(os.path.relpath(path.literal, root).replace(os.sep, "/"))
    for rel in sorted(f for f in forms if f and f != "."):
        if rel.rsplit("/", 1)[-1] == GIT_NAME and not path.writes and os.path.isdir(path.literal):
            continue
        reason = protected_reason(rel, hooks_paths(root))
        if reason is not None:
            return f"{reason}; writing it is asked under every policy"
    return None


def _is_hardlinked(path: str) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_nlink > 1
