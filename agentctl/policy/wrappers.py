"""What a command runs besides itself: wrappers, shells, interpreters, find, awk, sed, git.

Owns the knowledge of commands that run other code (`env rm x`, `bash -c "..."`,
`find -exec`, `python -c`, `awk 'system(...)'`, `sed 's/x/y/e'`, `git -c`/aliases) as flags,
and, where the inner command can be seen, that command as words or as a string a shell would
parse. Pure word analysis: `agentctl.policy.shellwords` parses and recurses into what this returns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SHELLS = {"sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "yash", "fish", "csh", "tcsh"}
_INTERPRETER = re.compile(
    r"^(?:python[0-9.]*|pypy[0-9.]*|perl[0-9.]*|ruby[0-9.]*|node|nodejs|"
    r"php[0-9.]*|lua[0-9.]*|luajit|rscript|osascript|bun|deno|tclsh[0-9.]*|"
    r"wish|jshell|irb|ghci|julia)$",
    re.IGNORECASE,
)
# Short options that mean "the next word is code", per interpreter family.
_INLINE_LETTERS = {
    "python": "c",
    "pypy": "c",
    "perl": "eE",
    "ruby": "e",
    "node": "ep",
    "nodejs": "ep",
    "php": "r",
    "lua": "e",
    "luajit": "e",
    "rscript": "e",
    "osascript": "e",
    "bun": "e",
    "julia": "e",
}
_INLINE_LONG = {"--eval", "--print", "--command", "--expression"}
_INTERPRETER_VALUE_OPTS = {
    "-W",
    "-X",
    "-m",
    "-I",
    "-M",
    "-r",
    "--require",
    "--import",
    "--loader",
    "-x",
}
_AWKS = {"awk", "gawk", "mawk", "nawk"}

# Wrappers whose inner command is the rest of the words after their options: name ->
# (options that take a value, positional words to skip before the command).
_PREFIX_WRAPPERS: dict[str, tuple[frozenset[str], int]] = {
    name: (frozenset(opts), skip)
    for name, opts, skip in [
        ("nice", {"-n", "--adjustment"}, 0),
        ("nohup", set(), 0),
        ("timeout", {"-s", "--signal", "-k", "--kill-after"}, 1),
        (
            "sudo",
            {
                "-u",
                "-g",
                "-h",
                "-p",
                "-C",
                "-D",
                "-r",
                "-t",
                "-U",
                "-T",
                "--user",
                "--group",
                "--host",
                "--prompt",
                "--chdir",
                "--role",
                "--type",
                "--other-user",
                "--close-from",
                "--command-timeout",
            },
            0,
        ),
        ("doas", {"-u", "-C"}, 0),
        ("exec", {"-a"}, 0),
        ("command", set(), 0),
        ("builtin", set(), 0),
        ("time", {"-f", "--format", "-o", "--output"}, 0),
        ("stdbuf", {"-i", "-o", "-e", "--input", "--output", "--error"}, 0),
        ("ionice", {"-c", "-n", "-p", "-P", "-u", "--class", "--classdata"}, 0),
        ("setsid", set(), 0),
        ("chrt", set(), 1),
        ("taskset", set(), 1),
        ("flock", {"-w", "-E", "--timeout", "--conflict-exit-code"}, 1),
        (
            "xargs",
            {
                "-a",
                "-d",
                "-E",
                "-I",
                "-L",
                "-n",
                "-P",
                "-s",
                "--arg-file",
                "--delimiter",
                "--eof",
                "--replace",
                "--max-lines",
                "--max-args",
                "--max-procs",
                "--max-chars",
                "--process-slot-var",
            },
            0,
        ),
        ("parallel", {"-j", "--jobs", "-S", "--sshlogin", "-d", "--delimiter", "-I"}, 0),
        ("watch", {"-n", "--interval", "-d", "--differences", "-g", "-q", "-s"}, 0),
        ("strace", {"-o", "-e", "-p", "-s", "-u", "-P"}, 0),
        ("ltrace", {"-o", "-e", "-p", "-s", "-u"}, 0),
        ("chroot", {"--userspec", "--groups"}, 1),
        ("runuser", {"-u", "-g", "-G", "--user", "--group"}, 0),
        ("pkexec", {"--user"}, 0),
        ("unshare", set(), 0),
        ("nsenter", {"-t", "--target"}, 0),
        ("fakeroot", set(), 0),
        ("firejail", set(), 0),
        ("proxychains", {"-f"}, 0),
        ("proxychains4", {"-f"}, 0),
        ("torsocks", set(), 0),
        ("unbuffer", set(), 0),
        ("chronic", set(), 0),
        ("catchsegv", set(), 0),
        ("prlimit", set(), 0),
        ("setpriv", set(), 0),
        ("numactl", set(), 0),
        ("setarch", set(), 1),
        ("linux32", set(), 0),
        ("linux64", set(), 0),
        ("faketime", set(), 1),
        ("entr", set(), 0),
        ("rlwrap", set(), 0),
        ("busybox", set(), 0),
        ("systemd-run", set(), 0),
        ("caffeinate", set(), 0),
        ("npx", {"-p", "--package"}, 0),
        ("uvx", {"--from"}, 0),
    ]
}
# Wrappers that join their words into a string a shell runs.
_JOINING = {"eval", "watch", "parallel"}
# Builtins whose effect outlives the command (aliases, hashed paths, traps, exported names).
_STATE_BUILTINS = {"alias", "hash", "enable", "trap", "bind", "complete", "fc", "shopt"}
_DECLARERS = {"export", "declare", "typeset", "readonly", "local"}
_GIT_SAFE = frozenset(
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
        "citool",
        "clean",
        "clone",
        "commit",
        "commit-graph",
        "commit-tree",
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
        "config",
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
    ]
)
_GIT_VALUE_OPTS = {
    "-C",
    "-c",
    "--git-dir",
    "--work-tree",
    "--namespace",
    "--super-prefix",
    "--config-env",
    "--exec-path",
    "--list-cmds",
}


@dataclass(frozen=True)
class Inner:
    """A command another command runs: split words, or a string a shell parses."""

    via: str  # what runs it: "env", "bash -c", "find -exec", ...
    words: tuple[str, ...] | None = None
    source: str | None = None


def _skip_options(
    args: tuple[str, ...], value_opts: frozenset[str] | set[str], positional: int = 0
) -> int:
    """Index of the first word after a wrapper's options and `positional` leading words."""
    i = 0
    while i < len(args):
        word = args[i]
        if word == "--":
            i += 1
            break
        if word.startswith("-") and word != "-":
            if word in value_opts and "=" not in word:
                i += 1
            i += 1
            continue
        break
    return min(i + positional, len(args))


def _short_letters(word: str) -> str:
    return word[1:] if word.startswith("-") and not word.startswith("--") else ""


def analyse_command(
    name: str, args: tuple[str, ...], stdin: tuple[str, ...] = ()
) -> tuple[set[str], list[Inner]]:
    """Flags for a command that runs other code, and the inner commands that can be seen.
    `stdin` holds the here-documents and here-strings the command reads."""
    flags: set[str] = set()
    if name in ("eval",):
        flags.add("runs-command:eval")
        return flags, [Inner("eval", source=" ".join(args))]
    if name in ("source", "."):
        flags.add("source")
        return flags, []
    if name == "env":
        return _analyse_env(args)
    if name in _PREFIX_WRAPPERS:
        value_opts, positional = _PREFIX_WRAPPERS[name]
        if name in ("command", "builtin") and any(a in ("-v", "-V") for a in args[:1]):
            return flags, []  # a lookup, not a run
        start = _skip_options(args, value_opts, positional)
        inner = list(args[start:])
        if name == "exec" and not inner:
            return flags, []  # `exec 3>file`: only redirects this shell
        flags.add(f"runs-command:{name}")
        if name in _JOINING:
            if name == "parallel" and ":::" in inner:
                inner = inner[: inner.index(":::")]
            return flags, [Inner(name, source=" ".join(inner))]
        return flags, [Inner(name, words=tuple(inner))]
    if name in ("su", "sg", "script") or name in _SHELLS:
        return _analyse_shell(name, args, stdin)
    if name == "find":
        return _analyse_find(args)
    if _INTERPRETER.match(name):
        return _analyse_interpreter(name, args), []
    if name in _AWKS:
        return _analyse_awk(args), []
    if name in ("sed", "gsed"):
        return _analyse_sed(args), []
    if name == "git":
        return _analyse_git(args), []
    if name in _STATE_BUILTINS or (name in _DECLARERS and any("=" in a for a in args)):
        flags.add(f"shell-state:{name}")
        if name == "trap" and args:
            return flags, [Inner("trap", source=args[0])]
    if name in ("mapfile", "readarray") and "-C" in args:
        flags.add(f"shell-state:{name}")
    return flags, []


def _analyse_env(args: tuple[str, ...]) -> tuple[set[str], list[Inner]]:
    flags: set[str] = set()
    i, nested = 0, []
    while i < len(args):
        word = args[i]
        if word in ("-S", "--split-string") and i + 1 < len(args):
            flags.add("runs-command:env")
            return flags, [Inner("env -S", source=" ".join(args[i + 1 :]))]
        if word.startswith("--split-string=") or (word.startswith("-S") and len(word) > 2):
            flags.add("runs-command:env")
            rest = word.split("=", 1)[1] if word.startswith("--") else word[2:]
            return flags, [Inner("env -S", source=" ".join((rest, *args[i + 1 :])))]
        if word in ("-u", "--unset", "-C", "--chdir"):
            i += 2
            continue
        if word == "--":
            i += 1
            break
        if word.startswith("-") and word != "-":
            i += 1
            continue
        if "=" in word and not word.startswith("="):
            flags.add("assignment")
            i += 1
            continue
        break
    if i < len(args):
        flags.add("runs-command:env")
        nested = [Inner("env", words=args[i:])]
    return flags, nested


def _analyse_shell(
    name: str, args: tuple[str, ...], stdin: tuple[str, ...]
) -> tuple[set[str], list[Inner]]:
    flags: set[str] = {f"runs-command:{name}"} if name not in _SHELLS else set()
    i, code_next = 0, False
    while i < len(args):
        word = args[i]
        if word == "--":
            i += 1
            break
        if word in ("-o", "+o", "-O", "+O", "--rcfile", "--init-file") or (
            name in ("su", "script") and word in ("-s", "--shell", "-g", "-G", "--group")
        ):
            i += 2
            continue
        if word.startswith("--command=") and name in ("su", "script"):
            flags.add(f"runs-command:{name}")
            return flags, [Inner(f"{name} -c", source=word.split("=", 1)[1])]
        if word.startswith(("-", "+")) and word not in ("-", "+"):
            code_next = code_next or word == "--command" or "c" in _short_letters(word)
            i += 1
            continue
        break
    rest = args[i:]
    if name in ("su", "sg") and rest and not code_next:
        rest = rest[1:]  # the user or group
        if name == "sg" and rest:
            flags.add("runs-command:sg")
            return flags, [Inner("sg", source=" ".join(rest))]
    if code_next:
        flags.add(f"runs-command:{name}")
        return flags, [Inner(f"{name} -c", source=rest[0] if rest else "")]
    if name == "script" and rest:
        return flags, []  # records a session into a file; the shell it starts reads stdin
    if rest and rest[0] != "-":
        return flags, []  # runs a script file, like ./script would
    flags.add(f"reads-stdin-code:{name}")
    nested: list[Inner] = []
    nested += [Inner(f"{name} <<", source=body) for body in stdin]
    return flags, nested


def _analyse_find(args: tuple[str, ...]) -> tuple[set[str], list[Inner]]:
    flags: set[str] = set()
    nested: list[Inner] = []
    i = 0
    while i < len(args):
        if args[i] in ("-exec", "-execdir", "-ok", "-okdir"):
            flags.add("find-exec")
            end = i + 1
            while end < len(args) and args[end] not in (";", "+"):
                end += 1
            nested.append(Inner("find " + args[i], words=args[i + 1 : end]))
            i = end
        elif args[i] == "-delete":
            flags.add("find-delete")
        i += 1
    return flags, nested


def _analyse_interpreter(name: str, args: tuple[str, ...]) -> set[str]:
    family = re.sub(r"[0-9.]+$", "", name.lower())
    letters = _INLINE_LETTERS.get(family, "")
    i = 0
    while i < len(args):
        word = args[i]
        if word == "--":
            i += 1
            break
        if (
            word in _INLINE_LONG
            or word.split("=", 1)[0] in _INLINE_LONG
            or (letters and any(c in letters for c in _short_letters(word)))
        ):
            return {f"inline-code:{name}"}
        if word == "-m" and family in ("python", "pypy"):
            return set()  # runs an installed module
        if word.startswith("-") and word != "-":
            i += 2 if word in _INTERPRETER_VALUE_OPTS else 1
            continue
        break
    if family == "deno" and args[i : i + 1] == ("eval",):
        return {f"inline-code:{name}"}
    if i >= len(args) or args[i] == "-":
        return {f"reads-stdin-code:{name}"}
    return set()


def _analyse_awk(args: tuple[str, ...]) -> set[str]:
    i = 0
    while i < len(args):
        word = args[i]
        if word in ("-f", "--file") or word.startswith("-f"):
            return {"awk-system"}  # the program is in a file we do not read
        if word in ("-v", "-F", "--assign", "--field-separator"):
            i += 2
            continue
        if word == "--":
            i += 1
            break
        if word.startswith("-") and word != "-":
            i += 1
            continue
        break
    program = args[i] if i < len(args) else ""
    # system(), pipes to/from commands and getline from a command run other programs.
    if "system" in program or "|" in program or "getline" in program:
        return {"awk-system"}
    return set()


def _analyse_sed(args: tuple[str, ...]) -> set[str]:
    scripts, i, given = [], 0, False
    while i < len(args):
        word = args[i]
        if word in ("-e", "--expression") and i + 1 < len(args):
            scripts.append(args[i + 1])
            given, i = True, i + 2
            continue
        if word.startswith("--expression="):
            scripts.append(word.split("=", 1)[1])
            given, i = True, i + 1
            continue
        if word in ("-f", "--file") or word.startswith("--file="):
            return {"sed-exec"}
        if word.startswith("-") and word != "-":
            i += 1
            continue
        if not given:
            scripts.append(word)
            given = True
        i += 1
    return {"sed-exec"} if any(_sed_script_runs(s) for s in scripts) else set()


def _sed_delimited(script: str, i: int, delim: str) -> int:
    """Index of the closing `delim` of a sed regex/replacement starting after index i."""
    i += 1
    while i < len(script) and script[i] != delim:
        i += 2 if script[i] == "\\" else 1
    return i


def _sed_script_runs(script: str) -> bool:
    """Whether a sed script uses e (run a command), w/W (write a file) or r/R (read one)."""
    i, n = 0, len(script)
    while i < n:
        c = script[i]
        if c in " \t\n;{}!,$~+0123456789":
            i += 1
        elif c == "/":
            i = _sed_delimited(script, i, "/") + 1
            while i < n and script[i] in "IM":
                i += 1
        elif c == "\\" and i + 1 < n:
            i = _sed_delimited(script, i + 1, script[i + 1]) + 1
        elif c in "sy" and i + 1 < n:
            delim = script[i + 1]
            end = _sed_delimited(script, _sed_delimited(script, i + 1, delim), delim) + 1
            j = end
            while j < n and script[j] not in ";\n}":
                if c == "s" and script[j] in "ewW":
                    return True
                j += 1
            i = j
        elif c in "eEwWrR":
            return True
        elif c in "aic:btT#":
            while i < n and script[i] != "\n" and not (c in "btT" and script[i] == ";"):
                i += 1
        else:
            i += 1
    return False


def _analyse_git(args: tuple[str, ...]) -> set[str]:
    i = 0
    while i < len(args):
        word = args[i]
        if word in ("-c", "--config-env") or word.startswith(("--config-env=", "--exec-path")):
            return {"git-config"}
        if word in _GIT_VALUE_OPTS:
            i += 2
            continue
        if word.startswith("-"):
            i += 1
            continue
        break
    if i >= len(args):
        return set()
    sub, rest = args[i], args[i + 1 :]
    if sub not in _GIT_SAFE:
        return {"git-config"}  # an alias or an external git-* command we cannot see
    if (
        sub == "config"
        and not any(a in ("--get", "--get-all", "--list", "-l", "--get-regexp") for a in rest)
        and len([a for a in rest if not a.startswith("-")]) > 1
    ):
        return {"git-config"}
    if (
        (sub == "rebase" and any(a in ("-x", "--exec") or a.startswith("--exec=") for a in rest))
        or (sub == "submodule" and "foreach" in rest)
        or (sub == "bisect" and "run" in rest)
    ):
        return {"git-config"}
    return set()
