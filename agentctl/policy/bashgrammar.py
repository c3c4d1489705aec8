"""Fixes to bashlex so it reads the bash that developers type.

bashlex ports bash's grammar but leaves some of it unbuilt (it raises NotImplementedError) or
gets it wrong. This module owns those fixes, applied once on import:

- here-documents with a quoted delimiter (`<<'EOF'`) end where bash ends them;
- `case WORD in PATTERN) ... ;; esac` becomes a node whose parts are the word, the patterns
  and the commands of each clause;
- `time CMD` is CMD; `((expr))` and `for ((...))` are read when the expression runs nothing;
- `$((expr))` is an unknown value (a `parameter` part), unless a command hides inside it;
- `${` without its `}` is an error (bashlex looped forever on it);
- `[[ ... ]]` is read as `[ ... ]` (`rewrite_conditionals`, a text rewrite of the same length,
  because bashlex's tokenizer never builds the inside of a `[[`).

Whatever still cannot be read stays an error, which the policy asks about.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from agentctl.policy.bash_tables import import_bashlex

if TYPE_CHECKING:
    # bashlex ships no type information: these name its classes (mypy reads them as Any).
    from bashlex.ast import node as BashNode
    from bashlex.parser import _parser as BashParser
    from bashlex.tokenizer import tokenizer as BashTokenizer
    from bashlex.yacc import YaccProduction

# Parser tables from the file; the import loads bashlex.parser, .subst, .ast, .errors, .heredoc.
bashlex = import_bashlex()

_node = bashlex.ast.node


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


def _makeheredoc(
    tokenizer: BashTokenizer, redirnode: BashNode, lineno: int, killleading: bool
) -> str:
    # bashlex compares lines with the delimiter as written, so `<<'EOF'` never ends; bash
    # removes the quotes first (and then does not expand the body, which we record).
    delimiter, quoted = _unquote_delimiter(redirnode.output.word)
    redirnode.quoted_delimiter = quoted
    document: list[str] = []
    startpos = tokenizer._shell_input_line_index
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
    redirnode.heredoc = _node(kind="heredoc", value="".join(document), pos=(startpos, endpos))
    if redirnode.pos[1] + 1 == startpos:
        redirnode.pos = (redirnode.pos[0], endpos)
    value: str = redirnode.heredoc.value
    return value


def _runs_something(expression: str) -> bool:
    # `a[$(cmd)]` in an arithmetic context runs cmd; so does a backquote.
    return "$(" in expression or "`" in expression or "[" in expression


def _case_command(p: YaccProduction) -> None:
    parts = bashlex.parser._makeparts(p)
    pos = bashlex.parser._partsspan(parts)
    # bashlex's own visitor knows only its kinds; a case walks like an `if` (parts in order).
    p[0] = _node(
        kind="compound", redirects=[], list=[_node(kind="if", parts=parts, pos=pos)], pos=pos
    )


def _parts_list(p: YaccProduction) -> None:
    p[0] = bashlex.parser._makeparts(p)


def _timespec(p: YaccProduction) -> None:
    p[0] = _node(kind="reservedword", word=p[1], pos=p.lexspan(1))


def _arith_command(p: YaccProduction) -> None:
    if _runs_something(str(p[1])):
        raise NotImplementedError("an arithmetic command with a command or array inside")
    p[0] = _node(kind="compound", redirects=[], list=[], pos=p.lexspan(1))


def _arith_for_command(p: YaccProduction) -> None:
    if _runs_something(str(p[2])):
        raise NotImplementedError("an arithmetic for loop with a command or array inside")
    parts = [x for x in bashlex.parser._makeparts(p) if x.kind != "reservedword"]
    start, end = p.lexspan(1)[0], p.lexspan(len(p) - 1)[1]
    p[0] = _node(
        kind="compound",
        redirects=[],
        list=[_node(kind="for", parts=parts, pos=(start, end))],
        pos=(start, end),
    )


_ACTIONS = {
    "p_case_command": _case_command,
    "p_case_clause": _parts_list,
    "p_case_clause_sequence": _parts_list,
    "p_pattern_list": _parts_list,
    "p_pattern": _parts_list,
    "p_timespec": _timespec,
    "p_arith_command": _arith_command,
    "p_arith_for_command": _arith_for_command,
}

_original_commandsubst: Callable[[BashParser, str, int, bool], tuple[BashNode, int]] = (
    bashlex.subst._extractcommandsubst
)


def _extractcommandsubst(
    parserobj: BashParser, string: str, sindex: int, sxcommand: bool = False
) -> tuple[BashNode, int]:
    """`$((expr))` as a parameter (an unknown value); `$(cmd)` as bashlex reads it."""
    if string[sindex] != "(":
        return _original_commandsubst(parserobj, string, sindex, sxcommand)
    depth, j = 0, sindex - 1
    while j < len(string):
        if string[j] == "(":
            depth += 1
        elif string[j] == ")":
            depth -= 1
            if depth == 0:
                break
        j += 1
    body = string[sindex + 1 : j - 1]
    if j >= len(string) or string[j - 1] != ")" or _runs_something(body):
        raise NotImplementedError("an arithmetic expansion with a command or array inside")
    return _node(kind="parameter", value=f"(({body}))", pos=(sindex - 2, j + 1)), j + 1


_original_paramexpand: Callable[[BashParser, str, int], tuple[BashNode, int]] = (
    bashlex.subst._paramexpand
)


def _paramexpand(parserobj: BashParser, string: str, sindex: int) -> tuple[BashNode, int]:
    # bashlex looks for the `}` of `${` with str.find and loops forever when there is none.
    if string.startswith("${", sindex) and string.find("}", sindex + 2) < 0:
        raise bashlex.errors.ParsingError("bad substitution: no closing `}`", string, sindex)
    return _original_paramexpand(parserobj, string, sindex)


def _install() -> None:
    bashlex.heredoc.makeheredoc = _makeheredoc
    bashlex.subst._extractcommandsubst = _extractcommandsubst
    bashlex.subst._paramexpand = _paramexpand
    for production in bashlex.parser.yaccparser.productions:
        action = _ACTIONS.get(getattr(production, "func", None) or "")
        if action is not None:
            production.callable = action


_install()


_COND_BEFORE = " \t\n;&|(){!"
_COND_AFTER = " \t\n;&|)"


def rewrite_conditionals(text: str) -> str:
    """`[[ a && b ]]` -> `[  a -a b  ]`, the same length, so offsets into the text still hold.
    Inside, `&&`/`||` become `-a`/`-o` and `<`, `>`, `(`, `)`, `|` blanks: the words stay,
    the operators bashlex cannot read go. Quotes and `$(...)` are left as they are."""
    if "[[" not in text:
        return text
    out = list(text)
    i, n = 0, len(text)
    quote = ""
    while i < n:
        c = text[i]
        if quote:
            if c == "\\" and quote == '"':
                i += 2
                continue
            if c == quote:
                quote = ""
            i += 1
            continue
        if c == "\\":
            i += 2
            continue
        if c in "'\"":
            quote = c
            i += 1
            continue
        if (
            text.startswith("[[", i)
            and (i == 0 or text[i - 1] in _COND_BEFORE)
            and i + 2 < n
            and text[i + 2] in " \t"
        ):
            end = _cond_end(text, i + 2)
            if end is not None:
                out[i : i + 2] = ["[", " "]
                out[end : end + 2] = [" ", "]"]
                _blank_operators(text, i + 2, end, out)
                i = end + 2
                continue
        i += 1
    return "".join(out)


def _cond_end(text: str, i: int) -> int | None:
    quote, depth, n = "", 0, len(text)
    while i < n:
        c = text[i]
        if quote:
            if c == "\\" and quote == '"':
                i += 2
                continue
            if c == quote:
                quote = ""
        elif c == "\\":
            i += 1
        elif c in "'\"":
            quote = c
        elif text.startswith("$(", i):
            depth += 1
            i += 1
        elif c == ")" and depth:
            depth -= 1
        elif (
            not depth
            and text.startswith("]]", i)
            and text[i - 1] in " \t"
            and (i + 2 == n or text[i + 2] in _COND_AFTER)
        ):
            return i
        i += 1
    return None


def _blank_operators(text: str, start: int, end: int, out: list[str]) -> None:
    quote, depth, i = "", 0, start
    while i < end:
        c = text[i]
        if quote:
            if c == "\\" and quote == '"':
                i += 2
                continue
            if c == quote:
                quote = ""
        elif c == "\\":
            i += 1
        elif c in "'\"":
            quote = c
        elif text.startswith("$(", i):
            depth += 1
            i += 1
        elif depth:
            depth += c == "("
            depth -= c == ")"
        elif text.startswith("&&", i) or text.startswith("||", i):
            out[i : i + 2] = ["-", "a" if c == "&" else "o"]
            i += 1
        elif c in "<>()|":
            out[i] = " "
        i += 1


__all__ = ["rewrite_conditionals"]
