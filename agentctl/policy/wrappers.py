"""What a command runs besides itself: wrappers, shells and interpreters.

Owns the knowledge of commands whose job is to run another command (`env rm x`,
`bash -c "..."`, `xargs rm`, `sudo`, `timeout`, `eval`, `python -c`) as flags, and, where the
inner command can be seen, that command as words or as a string a shell would parse; what
xargs appends and what a shell reads from a pipe are unknown words. Options of other programs
that run code (`rg --pre`, `sed e`, `git -c core.pager`, `find -exec`, ...) are in the table of
`agentctl.policy.runs_code`, which `analyse_command` consults. Pure word analysis:
`agentctl.policy.shellwords` parses and recurses into what this returns.
"""

from __future__ import annotations

import re

from agentctl.policy.environment import analyse_assignment
from agentctl.policy.inner import HOLE, Inner
from agentctl.policy.runs_code import CODE_RUNNERS

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

_INFORMATION_OPTS = {"--version", "-V", "--help", "-h", "-v", "-VV"}
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
        if name == "xargs":
            return flags, [_xargs_inner(args[:start], tuple(inner))]
        return flags, [Inner(name, words=tuple(inner))]
    if name in ("su", "sg", "script") or name in _SHELLS:
        return _analyse_shell(name, args, stdin)
    if _INTERPRETER.match(name):
        return _analyse_interpreter(name, args), []
    inners: list[Inner] = []
    if name in CODE_RUNNERS:
        more_flags, inners = CODE_RUNNERS[name](args)
        flags |= more_flags
    if name in _DECLARERS:
        for word in args:
            key, eq, value = word.partition("=")
            if eq and not key.startswith("-"):
                more_flags, more = analyse_assignment(key, value)
                flags |= more_flags
                inners += more
    if name in _STATE_BUILTINS:
        flags.add(f"shell-state:{name}")
        if name == "trap" and args:
            return flags, [*inners, Inner("trap", source=args[0])]
    if name in ("mapfile", "readarray") and "-C" in args:
        flags.add(f"shell-state:{name}")
        inners.append(Inner.unknown(name))
    return flags, inners


def _xargs_inner(options: tuple[str, ...], words: tuple[str, ...]) -> Inner:
    """xargs runs its command with words read from stdin: unknown ones, that may start with
    `-`. With -I/--replace they replace the placeholder; else they are appended."""
    words = words or ("echo",)
    placeholder = None
    for i, word in enumerate(options):
        if word in ("-I", "--replace") and i + 1 < len(options):
            placeholder = options[i + 1]
        elif word.startswith("--replace=") or (word.startswith("-I") and len(word) > 2):
            placeholder = word.split("=", 1)[1] if "=" in word else word[2:]
        elif word in ("-i", "--replace"):
            placeholder = "{}"
    if placeholder:
        return Inner("xargs", words=tuple(w.replace(placeholder, HOLE) for w in words))
    return Inner("xargs", words=(*words, HOLE), splits=(len(words),))


def _analyse_env(args: tuple[str, ...]) -> tuple[set[str], list[Inner]]:
    flags: set[str] = set()
    i, nested = 0, list[Inner]()
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
            key, _, value = word.partition("=")
            more_flags, more = analyse_assignment(key, value)
            flags |= more_flags
            nested += more
            i += 1
            continue
        break
    if i < len(args):
        flags.add("runs-command:env")
        nested.append(Inner("env", words=args[i:]))
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
    if not stdin:
        return flags, [Inner.unknown(f"{name} reading stdin")]
    return flags, [Inner(f"{name} <<", source=body) for body in stdin]


def _analyse_interpreter(name: str, args: tuple[str, ...]) -> set[str]:
    family = re.sub(r"[0-9.]+$", "", name.lower())
    letters = _INLINE_LETTERS.get(family, "")
    if args and all(a in _INFORMATION_OPTS for a in args):
        return set()  # `python --version`: prints and exits, reads no program
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
