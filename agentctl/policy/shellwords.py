"""A shell command -> the simple commands it would run, for the policy to decide one by one.

Owns parsing with bashlex (a port of bash's own grammar, fixed in
`agentctl.policy.bashgrammar`: the command is never matched as text), normalising each simple
command (name as written and without directory, argument words with quotes removed,
redirects with their direction), and marking what the parser cannot know: a word holding an
expansion (`$HOME`, `"$f"`, `$((1+2))`) keeps its known text and has HOLE where the unknown
value goes; an unquoted one may split into several words (`splits`). Brace expansion is done
here (with the word helpers of `agentctl.policy.words`). Flags say what a person should look
at: substitutions, an expansion in the command name, environment that runs code, commands
that run other commands (`bash -c`, `eval`, `sudo`, ...), sourcing, function definitions;
what each means and which of them ask by themselves is `agentctl.policy.words`. Where a
wrapper's inner command can be seen (`env rm x`, `bash -c "rm x"`, `$(rm x)`, `find -exec`,
`rg --pre sh`), it is yielded as a simple command of its own too, so a deny rule still sees
it; code that cannot be seen is a command whose name and words are unknown. Anything bashlex
cannot parse is one "unparseable" result; the policy asks about it. Which commands run other
code is known to `agentctl.policy.wrappers` and `agentctl.policy.runs_code`.
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, TypeAlias

from agentctl.policy.environment import analyse_assignment
from agentctl.policy.inner import HOLE, Inner
from agentctl.policy.words import (
    expand_braces,
    flag_asks,
    inside_double_quotes,
    normalise_name,
    remove_quotes,
)
from agentctl.policy.wrappers import analyse_command

if TYPE_CHECKING:
    # bashlex ships no type information: this names its syntax node (mypy reads it as Any).
    from bashlex.ast import node as BashNode

_grammar: ModuleType | None = None  # agentctl.policy.bashgrammar, at the first command parsed


def _bash() -> ModuleType:
    """bashlex with agentctl's grammar fixes and its parser tables read from a file. Imported
    when the first command is parsed, not with this module (~40 ms): a job whose tools start
    no program, under a policy with no command patterns, never pays for it."""
    global _grammar
    if _grammar is None:
        from agentctl.policy import bashgrammar

        _grammar = bashgrammar
    return _grammar


# Commands longer than this are not parsed (bashlex is recursive and not fast on huge input).
MAX_COMMAND_CHARS = 64 * 1024
# `bash -c "bash -c '...'"`: nested command strings are parsed this deep, then flagged.
MAX_DEPTH = 6


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
    splits: tuple[int, ...] = ()  # indexes into `words` of words that may become several

    @property
    def words(self) -> tuple[str, ...]:
        return (self.name, *self.args)

    @property
    def name_unknown(self) -> bool:
        return HOLE in self.name


@dataclass
class ParsedShell:
    commands: list[SimpleCommand] = field(default_factory=list)
    unparseable: str | None = None  # why the command could not be parsed; then no commands


_LOCK = threading.Lock()  # bashlex copies a module-level parser; keep one parse at a time


# --- parsing ---------------------------------------------------------------------------------


# An odd run of backslashes at the very end (optionally before one newline): not an escape.
_DANGLING_BACKSLASH = re.compile(r"(?<!\\)(?:\\\\)*\\\n?\Z")


class _Unsupported(Exception):
    pass


# Commands up to this long are kept parsed (the last PARSE_CACHE_SIZE of them): a warm worker
# parses its recipes' literal `run:` commands once and each job's child finds them parsed.
CACHED_COMMAND_CHARS = 4096
PARSE_CACHE_SIZE = 256


def parse_command(command: str) -> ParsedShell:
    """Every simple command `command` would run (see the module docstring), or unparseable."""
    if len(command) > CACHED_COMMAND_CHARS:
        return _parse(command, 0)
    found = _parse_kept(command)
    return ParsedShell(list(found.commands), found.unparseable)  # (its commands are frozen)


@functools.lru_cache(maxsize=PARSE_CACHE_SIZE)
def _parse_kept(command: str) -> ParsedShell:
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
    if _DANGLING_BACKSLASH.search(command):
        # bash drops a backslash at the end of input, bashlex does not always: rather than
        # guess which words survive, fail closed (a command part alone fails the same way).
        return ParsedShell([], "the command ends in a backslash with nothing after it")
    try:
        grammar = _bash()
        readable = grammar.rewrite_conditionals(command)
        with _LOCK:
            trees = grammar.bashlex.parse(readable)
        walker = _Walker(readable, depth)
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


# What a word or redirect runs: a syntax node still to walk, or a command already read.
InnerNode: TypeAlias = "BashNode | SimpleCommand"


class _Walker:
    def __init__(self, source: str, depth: int):
        self.source, self.depth = source, depth
        self.out: list[SimpleCommand] = []

    def text(self, node: BashNode) -> str:
        start, end = node.pos
        return self.source[start:end]

    def word(self, node: BashNode) -> str:
        """A word with quotes removed and HOLE for each expansion (see `words`)."""
        return self.words(node)[0][0]

    def words(self, node: BashNode) -> tuple[list[str], bool]:
        """The words one shell word becomes, with quotes removed, and whether they may split
        further (an unquoted expansion). bashlex gets mixed quoting wrong (`"r"'m'` -> r'm'),
        so words are unquoted here from their source text, as bash does; each expansion
        (`$X`, `${X}`, `$(...)`, `$((...))`) becomes HOLE; `{a,b}` is expanded."""
        raw = self.text(node)
        if "$'" in raw or '$"' in raw:  # bashlex misreads them; the value is not decoded
            return [HOLE], True
        start = node.pos[0]
        pieces, last, splits = [], 0, False
        parts = sorted(
            (p for p in getattr(node, "parts", None) or [] if p.kind != "tilde"),
            key=lambda p: p.pos[0],
        )
        for part in parts:
            a, b = part.pos[0] - start, part.pos[1] - start
            if a < last or a < 0 or b > len(raw):
                continue
            pieces.append(raw[last:a])
            splits = splits or not inside_double_quotes(raw, a)
            pieces.append(HOLE)
            last = b
        pieces.append(raw[last:])
        text = "".join(pieces)
        if "{" in text and "}" in text and not splits:
            expanded = expand_braces(text)
            if expanded is not None and len(expanded) > 1:
                out = [remove_quotes(w) for w in expanded]
                if all(w is not None for w in out):
                    return [w for w in out if w is not None], False
        unquoted = remove_quotes(text)
        if unquoted is None:  # $'...' or $"...": a value we do not decode
            return [HOLE], True
        return [unquoted], splits

    def visit(self, node: BashNode, redirects: tuple[Redirect, ...]) -> None:
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
        elif kind == "word":  # a `for` list or `case` word/pattern: its substitutions run
            word_flags: set[str] = set()
            word_inner: list[InnerNode] = []
            self._scan_word(node, word_flags, word_inner, in_name=False)
            if any(flag_asks(f) for f in word_flags):
                self.out.append(
                    SimpleCommand("", (), (), tuple(sorted(word_flags)), self.text(node))
                )
            self._visit_all(word_inner)
        elif kind in ("operator", "pipe", "reservedword"):
            return
        else:
            raise _Unsupported(f"unsupported shell construct: {kind}")

    def _visit_all(self, nodes: list[InnerNode]) -> None:
        for node in nodes:
            if isinstance(node, SimpleCommand):
                self.out.append(node)
            else:
                self.visit(node, ())

    def _scan_word(
        self, node: BashNode, flags: set[str], inner: list[InnerNode], *, in_name: bool
    ) -> None:
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
                value = getattr(part, "value", None)
                if value is None:
                    flags.add("ansi-c-quoting")  # bashlex reads $'..' as an empty parameter
                elif any(m in value for m in ("$(", "`", "<(", ">(")) or value.endswith("@P"):
                    # bashlex does not look inside ${...}: a command there runs unseen.
                    flags.add("hidden-command")
                    inner.append(_unknown_command("${...}"))
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
            flags.add("brace-expansion")

    def _redirects(self, nodes: list[BashNode]) -> tuple[list[Redirect], set[str], list[InnerNode]]:
        out: list[Redirect] = []
        flags: set[str] = set()
        inner: list[InnerNode] = []
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

    def _command(self, node: BashNode, inherited: tuple[Redirect, ...]) -> None:
        flags: set[str] = set()
        inner: list[InnerNode] = []
        words = []
        redirect_nodes = []
        assigned: list[Inner] = []
        for part in node.parts:
            if part.kind == "assignment":
                flags.add("assignment")
                self._scan_word(part, flags, inner, in_name=False)
                key, _, value = self.word(part).partition("=")
                more_flags, more = analyse_assignment(key.rstrip("+"), value)
                flags |= more_flags
                assigned += more
            elif part.kind == "word":
                words.append(part)
            elif part.kind == "redirect":
                redirect_nodes.append(part)
            else:
                raise _Unsupported(f"unsupported part of a command: {part.kind}")
        own, redirect_flags, redirect_inner = self._redirects(redirect_nodes)
        flags |= redirect_flags
        texts: list[str] = []
        splits: list[int] = []
        for i, word in enumerate(words):
            self._scan_word(word, flags, inner, in_name=i == 0)
            more_words, may_split = self.words(word)
            if may_split:
                splits += range(len(texts), len(texts) + len(more_words))
            texts += more_words
        name = normalise_name(texts[0]) if texts else ""
        args = tuple(texts[1:])
        redirects = inherited + tuple(own)
        stdin = tuple(r.target for r in redirects if r.direction in ("heredoc", "herestring"))
        extra_flags, inners = analyse_command(name, args, stdin)
        flags |= extra_flags
        nested = _expand(assigned + inners, self.depth, flags)
        self.out.append(
            SimpleCommand(
                name,
                args,
                redirects,
                tuple(sorted(flags)),
                self.text(node),
                "",
                texts[0] if texts else "",
                tuple(splits),
            )
        )
        self.out.extend(nested)
        self._visit_all(inner + redirect_inner)


def _unknown_command(via: str) -> SimpleCommand:
    """Code the parser cannot see: any program with any words."""
    return SimpleCommand(HOLE, (HOLE,), (), (), f"<unknown code run by {via}>", via, HOLE, (0, 1))


# --- what a command runs ---------------------------------------------------------------------


def _expand(inners: list[Inner], depth: int, flags: set[str]) -> list[SimpleCommand]:
    """The simple commands of what a command runs (see wrappers, runs_code), recursively."""
    out: list[SimpleCommand] = []
    for inner in inners:
        if inner.is_unknown:
            out.append(_unknown_command(inner.via))
        elif inner.words is not None:
            out += _from_words(list(inner.words), inner.via, depth, inner.splits)
        else:
            out += _from_source(inner.source or "", inner.via, depth, flags)
    return out


def _from_words(
    words: list[str], via: str, depth: int, splits: tuple[int, ...] = ()
) -> list[SimpleCommand]:
    """The simple command made of already-split words (a wrapper's inner command) and what
    it in turn runs."""
    if not words:
        return []
    if depth > MAX_DEPTH:
        return [SimpleCommand("", (), (), ("too-deep",), " ".join(words), via)]
    name, args = normalise_name(words[0]), tuple(words[1:])
    flags, inners = analyse_command(name, args)
    if HOLE in name:
        flags.add("expansion-in-name")
    nested = _expand(inners, depth + 1, flags)
    text = " ".join(words).replace(HOLE, "…")
    return [
        SimpleCommand(name, args, (), tuple(sorted(flags)), text, via, words[0], splits),
        *nested,
    ]


def _from_source(text: str, via: str, depth: int, flags: set[str]) -> list[SimpleCommand]:
    """The simple commands of a command string another shell runs (`bash -c`, `eval`)."""
    if HOLE in text:
        return [_unknown_command(via)]
    if depth > MAX_DEPTH:
        flags.add("too-deep")
        return [_unknown_command(via)]
    parsed = _parse(text, depth + 1)
    if parsed.unparseable is not None:
        flags.add("unparseable-inner")
        return [_unknown_command(via)]
    return [
        SimpleCommand(
            c.name, c.args, c.redirects, c.flags, c.text, c.via or via, c.program, c.splits
        )
        for c in parsed.commands
    ]
