"""A shell command -> the simple commands it would run, for the policy to decide one by one.

Owns parsing with bashlex (a port of bash's own grammar: the command is never matched as
text), normalising each simple command (name without directory or quotes, argument words with
quotes removed, redirects with their direction) and flagging what the parser cannot prove
harmless: substitutions, expansions in a command name, assignments, commands that run other
commands (`env`, `xargs`, `bash -c`, `find -exec`, `python -c`, ...), sourcing, function
definitions. Where a wrapper's inner command can be seen (`env rm x`, `bash -c "rm x"`,
`$(rm x)`), it is yielded as a simple command of its own too, so a deny rule still sees it.
Anything bashlex cannot parse is one "unparseable" result; the policy asks about it. Which
commands run other code is known to `agentctl.policy.wrappers`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from agentctl.policy.bash_tables import import_bashlex
from agentctl.policy.wrappers import Inner, analyse_command

# bashlex with its parser tables read from a file, not rebuilt at every start (0.15-0.3 s);
# the import also loads bashlex.ast, .errors and .heredoc used below.
bashlex = import_bashlex()

# Commands longer than this are not parsed (bashlex is recursive and not fast on huge input).
MAX_COMMAND_CHARS = 64 * 1024
# `bash -c "bash -c '...'"`: nested command strings are parsed this deep, then flagged.
MAX_DEPTH = 6

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
}


@dataclass(frozen=True)
class Redirect:
    op: str  # as written: > >> < <> >| &> &>> >& <& << <<- <<<
    target: str  # a file path (quotes removed), a file descriptor, or here-document text
    direction: str  # in | out | append | inout | dup | heredoc | herestring
    fd: int | None = None

    @property
    def is_file(self) -> bool:
        return self.direction in ("in", "out", "append", "inout")

    @property
    def writes(self) -> bool:
        return self.direction in ("out", "append", "inout")


@dataclass(frozen=True)
class SimpleCommand:
    name: str  # "" for a part that is only assignments, redirects or a definition
    args: tuple[str, ...] = ()
    redirects: tuple[Redirect, ...] = ()
    flags: tuple[str, ...] = ()  # what cannot be proven harmless; see FLAG_TEXT
    text: str = ""  # the source text of this part
    via: str = ""  # "" as written; else what runs it: "env", "$(...)", "bash -c", ...
    program: str = ""  # the name as written, quotes removed (`./tool`, `/bin/rm`)

    @property
    def words(self) -> tuple[str, ...]:
        return (self.name, *self.args)


@dataclass
class ParsedShell:
    commands: list[SimpleCommand] = field(default_factory=list)
    unparseable: str | None = None  # why the command could not be parsed; then no commands


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


# --- bashlex fixes ---------------------------------------------------------------------------

_LOCK = threading.Lock()  # bashlex copies a module-level parser; keep one parse at a time


def _unquote_delimiter(word: str) -> tuple[str, bool]:
    """A here-document delimiter without its quotes, and whether it had any (bash rules)."""
    out, quoted, i = [], False, 0
    while i < len(word):
        c = word[i]
        if c == "\\" and i + 1 < len(word):
            out.append(word[i + 1])
            quoted, i = True, i + 2
            continue
        if c in "'\"":
            end = word.find(c, i + 1)
            end = len(word) if end < 0 else end
            out.append(word[i + 1 : end])
            quoted, i = True, end + 1
            continue
        out.append(c)
        i += 1
    return "".join(out), quoted


def _makeheredoc(tokenizer, redirnode, lineno, killleading):
    # bashlex compares lines with the delimiter as written, so `<<'EOF'` never ends; bash
    # removes the quotes first (and then does not expand the body, which we record).
    delimiter, quoted = _unquote_delimiter(redirnode.output.word)
    redirnode.quoted_delimiter = quoted
    document, startpos = [], tokenizer._shell_input_line_index
    line = tokenizer.readline(False)
    while line:
        if killleading:
            line = line.lstrip("\t")
        if line.rstrip("\n") == delimiter and line.endswith("\n"):
            break
        document.append(line)
        line = tokenizer.readline(False)
    if not line:
        raise bashlex.errors.ParsingError(
            f"here-document delimited by end-of-file (wanted {delimiter!r})",
            tokenizer._shell_input_line,
            tokenizer._shell_input_line_index,
        )
    endpos = tokenizer._shell_input_line_index - 1
    redirnode.heredoc = bashlex.ast.node(
        kind="heredoc", value="".join(document), pos=(startpos, endpos)
    )
    if redirnode.pos[1] + 1 == startpos:
        redirnode.pos = (redirnode.pos[0], endpos)
    return redirnode.heredoc.value


bashlex.heredoc.makeheredoc = _makeheredoc


# --- parsing ---------------------------------------------------------------------------------


class _Unsupported(Exception):
    pass


def parse_command(command: str) -> ParsedShell:
    """Every simple command `command` would run (see the module docstring), or unparseable."""
    return _parse(command, 0)


def _only_comments(command: str) -> bool:
    return all(not line.strip() or line.lstrip().startswith("#") for line in command.splitlines())


def _parse(command: str, depth: int) -> ParsedShell:
    if len(command) > MAX_COMMAND_CHARS:
        return ParsedShell([], f"the command is longer than {MAX_COMMAND_CHARS} characters")
    if "\0" in command:
        return ParsedShell([], "the command contains a NUL byte")
    if _only_comments(command):
        return ParsedShell([])
    try:
        with _LOCK:
            trees = bashlex.parse(command)
        walker = _Walker(command, depth)
        for tree in trees:
            walker.visit(tree, ())
    except RecursionError:
        return ParsedShell([], "the command is nested too deeply to parse")
    except Exception as exc:
        detail = str(exc).strip() or type(exc).__name__
        if isinstance(exc, NotImplementedError):
            detail = f"not supported by the parser: {detail}"
        return ParsedShell([], detail)
    return ParsedShell(walker.out)


class _Walker:
    def __init__(self, source: str, depth: int):
        self.source, self.depth = source, depth
        self.out: list[SimpleCommand] = []

    def text(self, node) -> str:
        start, end = node.pos
        return self.source[start:end]

    def word(self, node) -> str:
        """A word with quotes removed. bashlex gets mixed quoting wrong (`"r"'m'` -> r'm'),
        so words without expansions are unquoted here from their source text, as bash does;
        words with expansions keep bashlex's text (they are flagged anyway)."""
        if any(p.kind != "tilde" for p in getattr(node, "parts", []) or []):
            return node.word
        unquoted = remove_quotes(self.text(node))
        return node.word if unquoted is None else unquoted

    def visit(self, node, redirects: tuple[Redirect, ...]) -> None:
        kind = node.kind
        if kind == "command":
            self._command(node, redirects)
        elif kind in ("list", "pipeline", "if", "for", "while", "until"):
            for part in node.parts:
                self.visit(part, redirects)
        elif kind == "compound":
            own, flags, inner = self._redirects(getattr(node, "redirects", []))
            if flags:
                self.out.append(
                    SimpleCommand("", (), tuple(own), tuple(sorted(flags)), self.text(node))
                )
            for part in node.list:
                self.visit(part, redirects + tuple(own))
            self._visit_all(inner)
        elif kind == "function":
            self.out.append(SimpleCommand("", (), (), ("function-definition",), self.text(node)))
            for part in node.parts[1:]:
                self.visit(part, redirects)
        elif kind == "word":  # a `for` loop's word list: its substitutions run
            word_flags: set[str] = set()
            word_inner: list = []
            self._scan_word(node, word_flags, word_inner, in_name=False)
            if word_flags & {"command-substitution", "process-substitution"}:
                self.out.append(
                    SimpleCommand("", (), (), tuple(sorted(word_flags)), self.text(node))
                )
            self._visit_all(word_inner)
        elif kind in ("operator", "pipe", "reservedword"):
            return
        else:
            raise _Unsupported(f"unsupported shell construct: {kind}")

    def _visit_all(self, nodes) -> None:
        for node in nodes:
            self.visit(node, ())

    def _scan_word(self, node, flags: set[str], inner: list, *, in_name: bool) -> None:
        for part in getattr(node, "parts", []) or []:
            kind = part.kind
            if kind == "commandsubstitution":
                flags.add("command-substitution")
                inner.append(part.command)
            elif kind == "processsubstitution":
                flags.add("process-substitution")
                inner.append(part.command)
            elif kind == "parameter":
                flags.add("expansion-in-name" if in_name else "expansion-in-argument")
                if not hasattr(part, "value"):
                    flags.add("ansi-c-quoting")  # bashlex reads $'..' as an empty parameter
            elif kind == "tilde":
                if in_name:
                    flags.add("expansion-in-name")
            else:
                self._scan_word(part, flags, inner, in_name=in_name)
        raw = self.text(node)
        if "$'" in raw or '$"' in raw:
            flags.add("ansi-c-quoting")
        word = getattr(node, "word", "")
        if "{" in word and "}" in word and ("," in word or ".." in word):
            flags.add("brace-expansion")  # bashlex leaves {a,b} unexpanded

    def _redirects(self, nodes) -> tuple[list[Redirect], set[str], list]:
        out: list[Redirect] = []
        flags: set[str] = set()
        inner: list = []
        for node in nodes:
            op = node.type
            fd = node.input if isinstance(getattr(node, "input", None), int) else None
            target = getattr(node, "output", None)
            if op in ("<<", "<<-"):
                body = node.heredoc.value if getattr(node, "heredoc", None) else ""
                if not getattr(node, "quoted_delimiter", False) and ("$" in body or "`" in body):
                    flags.add("heredoc-expansion")
                out.append(Redirect(op, body, "heredoc", fd))
                continue
            if target is None or isinstance(target, int):
                out.append(Redirect(op, "" if target is None else str(target), "dup", fd))
                continue
            self._scan_word(target, flags, inner, in_name=False)
            word = self.word(target)
            if op == "<<<":
                out.append(Redirect(op, word, "herestring", fd))
            elif op in (">&", "<&") and (word.isdigit() or word == "-"):
                out.append(Redirect(op, word, "dup", fd))
            else:
                direction = {
                    "<": "in",
                    "<>": "inout",
                    ">>": "append",
                    "&>>": "append",
                    ">&": "out",
                    "<&": "in",
                }.get(op, "out")
                out.append(Redirect(op, word, direction, fd))
        return out, flags, inner

    def _command(self, node, inherited: tuple[Redirect, ...]) -> None:
        flags: set[str] = set()
        inner: list = []
        words = []
        redirect_nodes = []
        for part in node.parts:
            if part.kind == "assignment":
                flags.add("assignment")
                self._scan_word(part, flags, inner, in_name=False)
            elif part.kind == "word":
                words.append(part)
            elif part.kind == "redirect":
                redirect_nodes.append(part)
            else:
                raise _Unsupported(f"unsupported part of a command: {part.kind}")
        own, redirect_flags, redirect_inner = self._redirects(redirect_nodes)
        flags |= redirect_flags
        for i, word in enumerate(words):
            self._scan_word(word, flags, inner, in_name=i == 0)
        texts = [self.word(w) for w in words]
        name = normalise_name(texts[0]) if texts else ""
        args = tuple(texts[1:])
        redirects = inherited + tuple(own)
        stdin = tuple(r.target for r in redirects if r.direction in ("heredoc", "herestring"))
        extra_flags, inners = analyse_command(name, args, stdin)
        flags |= extra_flags
        nested = _expand(inners, self.depth, flags)
        self.out.append(
            SimpleCommand(
                name,
                args,
                redirects,
                tuple(sorted(flags)),
                self.text(node),
                "",
                texts[0] if texts else "",
            )
        )
        self.out.extend(nested)
        self._visit_all(inner + redirect_inner)


# --- what a command runs ---------------------------------------------------------------------


def _expand(inners: list[Inner], depth: int, flags: set[str]) -> list[SimpleCommand]:
    """The simple commands of what a command runs (see shellwrappers), recursively."""
    out: list[SimpleCommand] = []
    for inner in inners:
        if inner.words is not None:
            out += _from_words(list(inner.words), inner.via, depth)
        else:
            out += _from_source(inner.source or "", inner.via, depth, flags)
    return out


def _from_words(words: list[str], via: str, depth: int) -> list[SimpleCommand]:
    """The simple command made of already-split words (a wrapper's inner command) and what
    it in turn runs."""
    if not words:
        return []
    if depth > MAX_DEPTH:
        return [SimpleCommand("", (), (), ("too-deep",), " ".join(words), via)]
    name, args = normalise_name(words[0]), tuple(words[1:])
    flags, inners = analyse_command(name, args)
    nested = _expand(inners, depth + 1, flags)
    return [
        SimpleCommand(name, args, (), tuple(sorted(flags)), " ".join(words), via, words[0]),
        *nested,
    ]


def _from_source(text: str, via: str, depth: int, flags: set[str]) -> list[SimpleCommand]:
    """The simple commands of a command string another shell runs (`bash -c`, `eval`)."""
    if depth > MAX_DEPTH:
        flags.add("too-deep")
        return []
    parsed = _parse(text, depth + 1)
    if parsed.unparseable is not None:
        flags.add("unparseable-inner")
        return []
    return [
        SimpleCommand(c.name, c.args, c.redirects, c.flags, c.text, c.via or via, c.program)
        for c in parsed.commands
    ]
