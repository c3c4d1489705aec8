"""Shell words and flags as text, without a parser: bash's quote removal, brace expansion
(`a{b,c}`, `{1..3}`), a command's name without its directory, and what each flag that
`agentctl.policy.shellwords` sets means to a person (`describe_flag`) and whether it asks by
itself (`flag_asks`). The parser (shellwords) uses these; nothing here imports it.
"""

from __future__ import annotations

# What each flag means, for reasons shown to people. A flag may carry ":name" (the command).
FLAG_TEXT = {
    "command-substitution": "command substitution $(...) or `...`",
    "process-substitution": "process substitution <(...) or >(...)",
    "expansion-in-name": "an expansion in the command name",
    "expansion-in-argument": "a $variable expansion whose value (maybe a path) is unknown",
    "ansi-c-quoting": "$'...' quoting",
    "brace-expansion": "brace expansion {a,b}",
    "assignment": "a variable assignment (it can change how later commands run)",
    "runs-command": "a command that runs another command",
    "inline-code": "code given inline to an interpreter",
    "reads-stdin-code": "a shell or interpreter reading its program from stdin",
    "find-exec": "find -exec/-execdir/-ok runs a command",
    "find-delete": "find -delete",
    "awk-system": "an awk program that can run commands",
    "sed-exec": "a sed script that runs commands or reads/writes other files",
    "git-config": "git configuration that can run commands (-c, config, aliases, exec)",
    "source": "source/. runs a file in this shell",
    "function-definition": "a function definition (it can shadow commands)",
    "shell-state": "a builtin that changes how later commands run",
    "heredoc-expansion": "an unquoted here-document with expansions",
    "too-deep": "command strings nested too deeply",
    "unparseable-inner": "an inner command string that cannot be parsed",
    "hidden-command": "a command hidden inside ${...} where the parser cannot read it",
    "code-in-environment": "an environment variable that makes programs run other code",
    "environment": "an environment variable that may change how programs run",
    "find-writes": "find -fprint/-fls writes a file",
}
# Flags that by themselves make a command at least `ask`. The others only explain: what they
# mark is decided through the inner commands and unknown words (a `$VAR` argument, what
# `xargs` or `find -exec` run, an environment variable that holds a command).
_QUIET_FLAGS = {
    "expansion-in-argument",
    "expansion-in-name",  # builtin:unknown-command says it
    "brace-expansion",
    "ansi-c-quoting",
    "assignment",
    "find-exec",
    "find-delete",
}
# Commands that run another command in a way that outlives or escapes the job, changes who
# runs it, or hands it to another shell: asked even when the inner command can be seen.
_ASKING_RUNNERS = {
    "eval", "su", "sg", "sudo", "doas", "pkexec", "runuser", "script", "nohup", "setsid",
    "systemd-run", "chroot", "nsenter", "unshare", "at", "batch", "watch", "parallel",
    "proxychains", "proxychains4", "torsocks", "busybox", "trap", "sh", "bash", "zsh", "dash",
    "ksh", "mksh", "ash", "yash", "fish", "csh", "tcsh",
}  # fmt: skip


def flag_asks(flag: str) -> bool:
    """Whether a flag makes its command at least `ask` by itself."""
    code, _, detail = flag.partition(":")
    if code in _QUIET_FLAGS:
        return False
    if code == "runs-command":
        return detail.split(" ", 1)[0] in _ASKING_RUNNERS
    return True


def describe_flag(flag: str) -> str:
    """A person's words for one flag ("runs-command:env" -> "... (env)")."""
    code, _, detail = flag.partition(":")
    text = FLAG_TEXT.get(code, code)
    return f"{text} ({detail})" if detail else text


def normalise_name(word: str) -> str:
    """`/bin/rm` -> `rm`: the directory does not change which program a rule means."""
    return word.rstrip("/").rsplit("/", 1)[-1] if "/" in word.rstrip("/") else word


def remove_quotes(raw: str) -> str | None:
    """Bash's quote removal on a word without expansions; None where it cannot tell ($'..')."""
    out, i, n = [], 0, len(raw)
    while i < n:
        c = raw[i]
        if c == "\\":
            if i + 1 < n and raw[i + 1] != "\n":
                out.append(raw[i + 1])
            i += 2
        elif c == "'":
            end = raw.find("'", i + 1)
            if end < 0:
                return None
            out.append(raw[i + 1 : end])
            i = end + 1
        elif c == '"':
            i += 1
            while i < n and raw[i] != '"':
                if raw[i] == "\\" and i + 1 < n and raw[i + 1] in '$`"\\\n':
                    if raw[i + 1] != "\n":
                        out.append(raw[i + 1])
                    i += 2
                else:
                    out.append(raw[i])
                    i += 1
            if i >= n:
                return None
            i += 1
        elif c == "$" and i + 1 < n and raw[i + 1] in "'\"":
            return None
        else:
            out.append(c)
            i += 1
    return "".join(out)


def inside_double_quotes(raw: str, index: int) -> bool:
    """Whether position `index` of a word's source text is inside "double quotes"."""
    quote, i = "", 0
    while i < index:
        c = raw[i]
        if c == "\\" and quote != "'":
            i += 2
            continue
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"":
            quote = c
        i += 1
    return quote == '"'


MAX_BRACE_WORDS = 256


def expand_braces(word: str) -> list[str] | None:
    """Bash brace expansion of one word (`a{b,c}d`, `{1..3}`), or None where it is not
    sure (quotes or escapes around braces, too many results)."""
    if "'" in word or '"' in word or "\\" in word or "$" in word:
        return None
    out = _braces(word)
    return out if out is not None and len(out) <= MAX_BRACE_WORDS else None


def _braces(word: str) -> list[str] | None:
    depth, start = 0, -1
    for i, c in enumerate(word):
        if c == "{":
            if depth == 0:
                start = i
            depth += 1
        elif c == "}" and depth:
            depth -= 1
            if depth == 0:
                body = word[start + 1 : i]
                options = _brace_options(body)
                if options is None:
                    rest = _braces(word[i + 1 :])
                    if rest is None:
                        return None
                    return [word[: i + 1] + r for r in rest]
                head, tail = word[:start], _braces(word[i + 1 :])
                if tail is None:
                    return None
                out: list[str] = []
                for option in options:
                    inner = _braces(option)
                    if inner is None:
                        return None
                    out += [head + x + t for x in inner for t in tail]
                    if len(out) > MAX_BRACE_WORDS:
                        return None
                return out
    return [word]


def _brace_options(body: str) -> list[str] | None:
    """`a,b` -> [a, b]; `1..3` -> [1, 2, 3]; None when the braces are literal."""
    parts, depth, last = [], 0, 0
    for i, c in enumerate(body):
        depth += (c == "{") - (c == "}")
        if c == "," and depth == 0:
            parts.append(body[last:i])
            last = i + 1
    if parts:
        return [*parts, body[last:]]
    ends = body.split("..")
    if len(ends) in (2, 3) and all(e.lstrip("-").isdigit() for e in ends):
        a, b = int(ends[0]), int(ends[1])
        step = abs(int(ends[2])) if len(ends) == 3 and int(ends[2]) else 1
        if abs(b - a) // step > MAX_BRACE_WORDS:
            return None
        return [str(n) for n in range(a, b + (1 if b >= a else -1), step if b >= a else -step)]
    if len(ends) == 2 and all(len(e) == 1 and e.isalpha() for e in ends):
        a, b = ord(ends[0]), ord(ends[1])
        return [chr(n) for n in range(a, b + (1 if b >= a else -1), 1 if b >= a else -1)]
    return None
