"""Options, arguments and environment variables that make a program run other code.

One table, `CODE_RUNNERS`, maps each program to the function that finds, in its words, the
code it would run: `rg --pre CMD`, `sed '1e CMD'`, `git -c core.pager=CMD`, `find -exec`,
`awk 'BEGIN{system("CMD")}'`, `tar --to-command=CMD`, `rsync -e CMD`, `ssh -o
ProxyCommand=CMD`, `test -v 'a[$(CMD)]'`, ... Each returns flags (why a person should look)
and `Inner` commands: the code as words, as a string a shell would parse, or unknown
(`Inner.unknown()`), which the policy decides as "could be any command". git's own table
is in `agentctl.policy.git_code`; environment variables that hold code in
`agentctl.policy.environment`.

Pure word analysis: nothing here parses shell text or runs anything.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from agentctl.policy.git_code import analyse_git
from agentctl.policy.inner import HOLE, Analysis, Inner, code_source, option_value

# --- ripgrep ---------------------------------------------------------------------------------


def _rg(args: tuple[str, ...]) -> Analysis:
    inners = []
    for i in range(len(args)):
        found = option_value(args, i, ("--pre",))
        if found and found[0]:
            # rg runs `CMD FILE` for every file it searches.
            inners.append(Inner("rg --pre", words=(found[0], HOLE)))
    return ({"runs-command:rg --pre"} if inners else set()), inners


# --- sed -------------------------------------------------------------------------------------

_SED_LONG = ("--expression", "--file", "--in-place", "--line-length")


def _sed(args: tuple[str, ...]) -> Analysis:
    scripts: list[str] = []
    flags: set[str] = set()
    i, given = 0, False
    while i < len(args):
        word = args[i]
        if word == "--":
            i += 1
            break
        if word.startswith("--"):
            found = option_value(args, i, ("--expression",))
            if found:
                scripts.append(found[0])
                given, i = True, found[1]
                continue
            if option_value(args, i, ("--file",)):
                return {"sed-exec"}, [Inner.unknown("sed --file")]
            i += 1
            continue
        if word.startswith("-") and word != "-":
            letters = word[1:]
            for j, letter in enumerate(letters):
                if letter in "ef":
                    rest = letters[j + 1 :]
                    value = rest or (args[i + 1] if i + 1 < len(args) else "")
                    i += 0 if rest else 1
                    if letter == "f":
                        return {"sed-exec"}, [Inner.unknown("sed -f")]
                    scripts.append(value)
                    given = True
                    break
                if letter in "il":
                    break  # the rest of the word is the option's value
            i += 1
            continue
        if not given:
            scripts.append(word)
            given = True
        i += 1
    if not given and i < len(args):
        scripts.append(args[i])
    inners: list[Inner] = []
    for script in scripts:
        runs, files = _sed_script(script)
        inners += runs
        if files:
            flags.add("sed-exec")
    if inners:
        flags.add("runs-command:sed")
    return flags, inners


def _sed_delimited(script: str, i: int, delim: str) -> int:
    """Index of the closing `delim` of a sed regex/replacement starting after index i."""
    i += 1
    while i < len(script) and script[i] != delim:
        i += 2 if script[i] == "\\" else 1
    return i


def _sed_script(script: str) -> tuple[list[Inner], bool]:
    """What a sed script runs (`e CMD`, `e`, `s///e`) and whether it reads or writes other
    files (r, R, w, W, s///w)."""
    inners: list[Inner] = []
    files = False
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
            j = _sed_delimited(script, _sed_delimited(script, i + 1, delim), delim) + 1
            while j < n and script[j] not in ";\n}":
                if c == "s" and script[j] == "e":
                    inners.append(Inner.unknown("sed s///e"))  # runs the pattern space
                if c == "s" and script[j] in "wW":
                    files = True
                j += 1
            i = j
        elif c == "e":
            end = script.find("\n", i)
            end = n if end < 0 else end
            command = script[i + 1 : end].strip()
            inners.append(code_source("sed e", command) if command else Inner.unknown("sed e"))
            i = end
        elif c in "wWrR":
            files = True
            end = script.find("\n", i)
            i = n if end < 0 else end
        elif c in "aic:btT#":
            while i < n and script[i] != "\n" and not (c in ":btT" and script[i] == ";"):
                i += 1
        else:
            i += 1
    return inners, files


# --- awk -------------------------------------------------------------------------------------

_AWK_SYSTEM = re.compile(r"\bsystem\s*\(\s*\"((?:[^\"\\]|\\.)*)\"\s*\)")
_AWK_TO_PIPE = re.compile(r"\|&?\s*\"((?:[^\"\\]|\\.)*)\"")
_AWK_FROM_PIPE = re.compile(r"\"((?:[^\"\\]|\\.)*)\"\s*\|&?\s*getline")


def _awk(args: tuple[str, ...]) -> Analysis:
    i = 0
    while i < len(args):
        word = args[i]
        if word in ("-f", "--file") or word.startswith(("-f", "--file=", "--exec", "-E")):
            return {"awk-system"}, [Inner.unknown("awk -f")]  # a program we do not read
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
    if not ("system" in program or "|" in program or "getline" in program):
        return set(), []
    literal = (
        [m.group(1) for m in _AWK_SYSTEM.finditer(program)]
        + [m.group(1) for m in _AWK_TO_PIPE.finditer(program)]
        + [m.group(1) for m in _AWK_FROM_PIPE.finditer(program)]
    )
    calls = len(re.findall(r"\bsystem\s*\(", program)) + len(
        re.findall(r"(?<!\|)\|(?!\|)", program)
    )
    if not calls:
        return set(), []  # getline from a file only reads
    inners = [code_source("awk", text.replace('\\"', '"')) for text in literal]
    if len(literal) < calls:
        inners.append(Inner.unknown("awk"))  # a command built at run time
    return {"awk-system"}, inners


# --- find ------------------------------------------------------------------------------------


def _find(args: tuple[str, ...]) -> Analysis:
    flags: set[str] = set()
    inners: list[Inner] = []
    starts = []
    for word in args:
        if word.startswith(("-", "(", "!")):
            break
        starts.append(word)
    # find passes each file as START/..., so `{}` is never an option.
    found = (starts[0].rstrip("/") if starts else ".") + "/" + HOLE
    i = 0
    while i < len(args):
        if args[i] in ("-exec", "-execdir", "-ok", "-okdir"):
            flags.add("find-exec")
            end = i + 1
            while end < len(args) and args[end] not in (";", "+"):
                end += 1
            words = tuple(w.replace("{}", found) for w in args[i + 1 : end])
            inners.append(Inner("find " + args[i], words=words))
            i = end
        elif args[i] == "-delete":
            inners.append(Inner("find -delete", words=("rm", "-d", found)))
        elif args[i] in ("-fprint", "-fprint0", "-fprintf", "-fls"):
            flags.add("find-writes")
        i += 1
    return flags, inners


# --- tar, rsync, ssh and friends -------------------------------------------------------------

# Options whose value is a command line, per program.
_COMMAND_OPTIONS: dict[str, tuple[str, ...]] = {
    "tar": (
        "--to-command",
        "--use-compress-program",
        "-I",
        "--info-script",
        "--new-volume-script",
        "-F",
        "--rsh-command",
        "--rmt-command",
    ),
    "rsync": ("--rsh", "-e", "--rsync-path"),
    "scp": ("-S",),
    "sftp": ("-S",),
    "sort": ("--compress-program",),
    "tcpdump": ("-z",),
    "zip": ("--unzip-command", "-TT"),
    "man": ("--pager", "-P", "--html", "-H"),
    "sdiff": ("--diff-program",),
    "git-shell": ("-c",),
}
# Options whose value is code in a language other than the shell (unknown code).
_CODE_OPTIONS: dict[str, tuple[str, ...]] = {
    "vim": ("-c", "--cmd", "-S"),
    "vi": ("-c", "--cmd", "-S"),
    "nvim": ("-c", "--cmd", "-S"),
    "view": ("-c", "--cmd", "-S"),
    "ex": ("-c", "--cmd", "-S"),
    "emacs": ("--eval", "-l", "--load", "-f", "--funcall"),
    "gdb": ("-ex", "--eval-command", "-x", "--command", "-iex", "-ix"),
    "psql": ("-c", "--command", "-f", "--file"),
    "sqlite3": ("-cmd", "-init"),
}
_SSH_COMMAND_OPTIONS = re.compile(
    r"^(proxycommand|localcommand|knownhostscommand|remotecommand|match)\b", re.IGNORECASE
)


def _command_options(name: str) -> Callable[[tuple[str, ...]], Analysis]:
    names = _COMMAND_OPTIONS[name]

    def analyse(args: tuple[str, ...]) -> Analysis:
        inners: list[Inner] = []
        for i in range(len(args)):
            found = option_value(args, i, names)
            if found is None and name == "tar" and args[i].startswith("--checkpoint-action="):
                action = args[i].split("=", 1)[1]
                found = (action[5:], i + 1) if action.startswith("exec=") else None
            if found is None and name == "rsync" and _short_cluster_value(args, i, "e"):
                found = (_short_cluster_value(args, i, "e") or "", i + 1)
            if found is not None:
                inners.append(
                    code_source(f"{name} {args[i]}", found[0]) if found[0] else Inner.unknown(name)
                )
        return ({f"runs-command:{name}"} if inners else set()), inners

    return analyse


def _short_cluster_value(args: tuple[str, ...], i: int, letter: str) -> str | None:
    """`-avze ssh` / `-avzessh`: the value of a one-letter option inside a cluster."""
    word = args[i]
    if not word.startswith("-") or word.startswith("--") or letter not in word[1:]:
        return None
    rest = word[word.index(letter, 1) + 1 :]
    return rest or (args[i + 1] if i + 1 < len(args) else "")


def _code_options(name: str) -> Callable[[tuple[str, ...]], Analysis]:
    names = _CODE_OPTIONS[name]

    def analyse(args: tuple[str, ...]) -> Analysis:
        hit = any(option_value(args, i, names) for i in range(len(args)))
        if name in ("vim", "vi", "nvim", "view", "ex") and any(a.startswith("+") for a in args):
            hit = True
        if name == "sqlite3" and any(
            a.lstrip().startswith((".sh", ".sys", ".once", ".output", ".import", ".load"))
            or "|" in a
            for a in args
        ):
            hit = True
        if name == "psql" and any("\\!" in a or "\\o" in a for a in args):
            hit = True
        return ({f"inline-code:{name}"}, [Inner.unknown(name)]) if hit else (set(), [])

    return analyse


def _ssh(args: tuple[str, ...]) -> Analysis:
    inners: list[Inner] = []
    for i in range(len(args)):
        found = option_value(args, i, ("-o",))
        if found is None:
            continue
        key, _, value = found[0].replace("=", " ", 1).partition(" ")
        if _SSH_COMMAND_OPTIONS.match(key.strip()):
            inners.append(code_source(f"ssh -o {key}", value.strip()))
        if key.strip().lower() in ("include", "permitlocalcommand"):
            inners.append(Inner.unknown(f"ssh -o {key}"))
    for i in range(len(args)):
        if option_value(args, i, ("-F",)):
            inners.append(Inner.unknown("ssh -F"))  # a config file may hold ProxyCommand
    return ({"runs-command:ssh"} if inners else set()), inners


def _less(args: tuple[str, ...]) -> Analysis:
    # `less '+!cmd' file` runs cmd at start when it has a terminal (the interactive tool).
    inners = [
        code_source("less +!", word.split("!", 1)[1])
        for word in args
        if word.startswith("+") and "!" in word
    ]
    return ({"runs-command:less"} if inners else set()), inners


def _at(args: tuple[str, ...]) -> Analysis:
    # at/batch read the commands they schedule from stdin (or -f FILE): unknown here, and
    # they run later, outside the job.
    return {"runs-command:at"}, [Inner.unknown("at")]


# Builtins that evaluate an argument as an arithmetic expression or array subscript, where
# `a[$(cmd)]` runs cmd even when it was quoted: `test -v`, `printf -v`, `read`, `let`, ...
ARITHMETIC_BUILTINS = frozenset(
    [
        "test",
        "[",
        "[[",
        "printf",
        "read",
        "unset",
        "declare",
        "typeset",
        "local",
        "export",
        "readonly",
        "let",
        "wait",
        "getopts",
        "mapfile",
        "readarray",
        "shift",
        "return",
        "exit",
        "break",
        "continue",
    ]
)


def _arithmetic_builtin(name: str) -> Callable[[tuple[str, ...]], Analysis]:
    def analyse(args: tuple[str, ...]) -> Analysis:
        inners = [
            Inner(f"{name} (subscript)", source=": " + word)
            for word in args
            if "$(" in word or "`" in word or "${" in word
        ]
        return ({f"runs-command:{name}"} if inners else set()), inners

    return analyse


CODE_RUNNERS: dict[str, Callable[[tuple[str, ...]], Analysis]] = {
    "rg": _rg,
    "sed": _sed,
    "gsed": _sed,
    "awk": _awk,
    "gawk": _awk,
    "mawk": _awk,
    "nawk": _awk,
    "git": analyse_git,
    "find": _find,
    "ssh": _ssh,
    "less": _less,
    "more": _less,
    "at": _at,
    "batch": _at,
    **{name: _command_options(name) for name in _COMMAND_OPTIONS},
    **{name: _code_options(name) for name in _CODE_OPTIONS},
    **{name: _arithmetic_builtin(name) for name in ARITHMETIC_BUILTINS},
}


def _with_ssh_options(
    analyse: Callable[[tuple[str, ...]], Analysis],
) -> Callable[[tuple[str, ...]], Analysis]:
    def both(args: tuple[str, ...]) -> Analysis:
        (flags, inners), (more_flags, more) = analyse(args), _ssh(args)
        return flags | more_flags, inners + more

    return both


for _name in ("scp", "sftp", "rsync"):  # they take ssh's -o options too
    CODE_RUNNERS[_name] = _with_ssh_options(CODE_RUNNERS[_name])


__all__ = ["ARITHMETIC_BUILTINS", "CODE_RUNNERS"]
