"""Command patterns (`git diff *`, `rm -rf *`) and how a parsed command meets one.

Owns:
- `CommandPattern`: a pattern's words (each a glob); a trailing `*` is any further arguments,
  none included. A first word with a slash (`./scripts/test.sh *`) names that path;
- option spelling: for the programs in `OPTION_SPECS` (rm, git push, chmod, ...), short
  clusters and long forms are normalised on both sides before matching, and options may come
  in any order (`rm -r -f x`, `rm -Rf x`, `rm x --recursive --force` all meet `rm -rf *`);
  git's global options (`git -C dir --no-pager push`) are skipped to find its subcommand;
- unknown values: a command word holding HOLE could be anything. `CommandPattern.match`
  answers two questions: could some value make the pattern match, and must it match
  whatever the values are. The policy lets every rule that could match vote, and uses its
  default unless some rule must match.

A command name with a slash (`./git`, `/usr/bin/git`) is that file: it must match only
patterns that name the path. It could still be the program of the same name (`/bin/rm`),
so a pattern of the bare name could match, but never must.
"""

from __future__ import annotations

import fnmatch
import functools
import os
from dataclasses import dataclass

from agentctl.policy.inner import HOLE
from agentctl.policy.shellwords import SimpleCommand, parse_command


@dataclass(frozen=True)
class OptionSpec:
    """How one program spells its options: long names -> the canonical name, the options
    that take a value, and the short letters that take the rest of a cluster as value."""

    aliases: dict[str, str]
    takes_value: frozenset[str] = frozenset()
    plus_means: str | None = None  # `git push origin +main` forces like -f


OPTION_SPECS: dict[tuple[str, ...], OptionSpec] = {
    ("rm",): OptionSpec(
        {
            "-R": "-r",
            "--recursive": "-r",
            "--force": "-f",
            "--dir": "-d",
            "--verbose": "-v",
            "--interactive": "-i",
            "--no-preserve-root": "--no-preserve-root",
            "--preserve-root": "--preserve-root",
            "--one-file-system": "--one-file-system",
        }
    ),
    ("git", "push"): OptionSpec(
        {
            "--force": "-f",
            "--force-with-lease": "--force-with-lease",
            "--force-if-includes": "--force-if-includes",
            "--set-upstream": "-u",
            "--delete": "-d",
            "--verbose": "-v",
            "--quiet": "-q",
            "--tags": "--tags",
            "--all": "--all",
            "--mirror": "--mirror",
            "--dry-run": "-n",
            "--no-verify": "--no-verify",
            "--repo": "--repo",
            "--push-option": "-o",
        },
        frozenset({"--repo", "-o", "--receive-pack", "--exec"}),
        plus_means="-f",
    ),
    ("git", "reset"): OptionSpec(
        {"--hard": "--hard", "--soft": "--soft", "--mixed": "--mixed", "--keep": "--keep"}
    ),
    ("git", "clean"): OptionSpec(
        {
            "--force": "-f",
            "--dry-run": "-n",
            "--quiet": "-q",
            "--interactive": "-i",
            "--exclude": "-e",
        },
        frozenset({"-e"}),
    ),
    ("git", "checkout"): OptionSpec({"--force": "-f"}, frozenset({"-b", "-B"})),
    ("git", "branch"): OptionSpec({"--delete": "-d", "--force": "-f"}),
    ("chmod",): OptionSpec(
        {"--recursive": "-R", "--changes": "-c", "--silent": "-f", "--quiet": "-f"},
        frozenset({"--reference"}),
    ),
    ("chown",): OptionSpec(
        {"--recursive": "-R", "--changes": "-c", "--silent": "-f", "--quiet": "-f"},
        frozenset({"--reference", "--from"}),
    ),
    ("cp",): OptionSpec({"-R": "-r", "--recursive": "-r", "--force": "-f"}, frozenset({"-t"})),
}
# git's global options that take a value (`git -C dir status`).
_GIT_GLOBAL_VALUE = {"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--config-env"}


@dataclass(frozen=True)
class Token:
    text: str
    unknown: bool = False  # holds HOLE somewhere
    splits: bool = False  # may become any number of words (an unquoted expansion)


def _tokens(words: tuple[str, ...], splits: tuple[int, ...]) -> list[Token]:
    return [Token(w, HOLE in w, i in splits) for i, w in enumerate(words)]


def _skip_git_globals(tokens: list[Token]) -> list[Token]:
    """`git -C x --no-pager push ...` -> `git push ...` (an unknown word stops the skip)."""
    i = 1
    while i < len(tokens):
        t = tokens[i]
        if t.unknown or not t.text.startswith("-"):
            break
        i += 2 if t.text in _GIT_GLOBAL_VALUE else 1
    return tokens[:1] + tokens[i:]


@dataclass
class _Options:
    options: set[str]
    positionals: list[Token]
    wild: bool  # an unknown word that could be any options


def _normalise(spec: OptionSpec, tokens: list[Token]) -> _Options:
    longs = [name for name in spec.aliases if name.startswith("--")]
    out = _Options(set(), [], False)
    i, ended = 0, False
    while i < len(tokens):
        t = tokens[i]
        i += 1
        if t.unknown:
            if t.splits or t.text.startswith((HOLE, "-")):
                out.wild = True
            out.positionals.append(Token(t.text, True, True))
            continue
        word = t.text
        if ended or word == "-" or not word.startswith("-"):
            if spec.plus_means and word.startswith("+") and len(word) > 1:
                out.options.add(spec.plus_means)
            out.positionals.append(t)
            continue
        if word == "--":
            ended = True
            continue
        if word.startswith("--"):
            key = word.split("=", 1)[0]
            names = [key] if key in spec.aliases else [n for n in longs if n.startswith(key)]
            names = names if len(key) > 3 else [key]
            for name in names or [key]:
                out.options.add(spec.aliases.get(name, name))
            if key in spec.takes_value and "=" not in word:
                i += 1
            continue
        for j, letter in enumerate(word[1:]):
            name = spec.aliases.get("-" + letter, "-" + letter)
            out.options.add(name)
            if "-" + letter in spec.takes_value:
                if j == len(word) - 2:
                    i += 1
                break
    return out


# --- unknown words meet globs ----------------------------------------------------------------


def _glob_items(text: str, *, literal: bool) -> tuple[str, ...]:
    """A glob (or a word with HOLEs, when `literal`) as items: "*" any text, "?" any one
    character, else one literal character. Classes [...] count as any one character."""
    items: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == HOLE:
            items.append("*")
        elif literal:
            items.append("=" + c)
        elif c == "*":
            items.append("*")
        elif c == "?":
            items.append("?")
        elif c == "[" and "]" in text[i + 2 :]:
            items.append("?")
            i = text.index("]", i + 2)
        else:
            items.append("=" + c)
        i += 1
    return tuple(items)


@functools.lru_cache(maxsize=4096)
def globs_intersect(word: str, pattern: str) -> bool:
    """Whether some text matches both `word` (HOLE = any text) and the glob `pattern`."""
    a, b = _glob_items(word, literal=True), _glob_items(pattern, literal=False)

    @functools.cache
    def meet(i: int, j: int) -> bool:
        if i == len(a) and j == len(b):
            return True
        if i < len(a) and a[i] == "*":
            return meet(i + 1, j) or (j < len(b) and meet(i, j + 1))
        if j < len(b) and b[j] == "*":
            return meet(i, j + 1) or (i < len(a) and meet(i + 1, j))
        if i == len(a) or j == len(b):
            return False
        return (a[i] == "?" or b[j] == "?" or a[i] == b[j]) and meet(i + 1, j + 1)

    return meet(0, 0)


def _word_could(token: Token, pattern: str) -> bool:
    if not token.unknown:
        return fnmatch.fnmatchcase(token.text, pattern)
    return globs_intersect(token.text, pattern)


def _word_must(token: Token, pattern: str) -> bool:
    if not token.unknown:
        return fnmatch.fnmatchcase(token.text, pattern)
    return bool(pattern) and set(pattern) == {"*"}


def _sequence_could(patterns: tuple[str, ...], open_ended: bool, tokens: list[Token]) -> bool:
    """Whether some values of the unknown tokens make `tokens` match `patterns`."""
    seen: set[tuple[int, int]] = set()
    todo = [(0, 0)]
    while todo:
        i, j = todo.pop()
        if (i, j) in seen:
            continue
        seen.add((i, j))
        if i == len(patterns) and (open_ended or j == len(tokens)):
            return True
        if j == len(tokens):
            continue
        t = tokens[j]
        if t.splits:
            todo.append((i, j + 1))  # the expansion is empty
            if i < len(patterns):
                todo.append((i + 1, j))  # it yields a word for this pattern, maybe more
        elif i < len(patterns) and _word_could(t, patterns[i]):
            todo.append((i + 1, j + 1))
    return False


def _sequence_must(patterns: tuple[str, ...], open_ended: bool, tokens: list[Token]) -> bool:
    """Whether `tokens` match `patterns` whatever the unknown tokens hold."""
    if len(tokens) < len(patterns):
        return False
    for pattern, token in zip(patterns, tokens):
        if token.splits or not _word_must(token, pattern):
            return False
    return open_ended or len(tokens) == len(patterns)


# --- patterns --------------------------------------------------------------------------------


def _path_key(program: str) -> str:
    return os.path.normpath(program)


@dataclass(frozen=True)
class CommandPattern:
    """`git diff *`: words matched in order (each a glob); a trailing `*` is any further
    arguments, none included."""

    text: str
    words: tuple[str, ...]
    open_ended: bool
    path: str | None = None  # the first word, when it names a file (has a slash)

    @classmethod
    def compile(cls, text: str) -> CommandPattern:
        """Parse a pattern like a command; ValueError unless it is one plain simple command."""
        parsed = parse_command(text)
        if parsed.unparseable is not None:
            raise ValueError(f'command pattern "{text}" cannot be parsed: {parsed.unparseable}')
        plain = [c for c in parsed.commands if not c.via]
        if len(plain) != 1 or not plain[0].name or plain[0].redirects:
            raise ValueError(
                f'command pattern "{text}" must be one simple command without '
                "redirects, like `git diff *`"
            )
        command = plain[0]
        if any(HOLE in w for w in command.words):
            raise ValueError(f'command pattern "{text}" must not hold $ expansions')
        words = command.words
        open_ended = len(words) > 1 and words[-1] == "*"
        path = _path_key(command.program) if "/" in command.program else None
        return cls(text, words[:-1] if open_ended else words, open_ended, path)

    def matches(self, command: SimpleCommand) -> bool:
        """Whether the command matches whatever its unknown words hold."""
        return self.match(command)[1]

    def match(self, command: SimpleCommand) -> tuple[bool, bool]:
        """(could match for some values of the unknown words, must match for all)."""
        tokens = _tokens(command.words, command.splits)
        if not tokens:
            return False, False
        name_could, name_must = self._match_name(command)
        if not name_could:
            return False, False
        if tokens[0].splits or tokens[0].unknown:
            return True, False  # any program with any words
        if self.words[0] == "git" or command.name == "git":
            tokens = _skip_git_globals(tokens)
        spec_key = self._spec_key()
        if spec_key is not None:
            could, must = self._match_options(spec_key, tokens)
        else:
            rest = tokens[1:]
            could = _sequence_could(self.words[1:], self.open_ended, rest)
            must = could and _sequence_must(self.words[1:], self.open_ended, rest)
        return could, must and name_must

    def _match_name(self, command: SimpleCommand) -> tuple[bool, bool]:
        program = command.program or command.name
        if HOLE in program:
            return True, False
        if self.path is not None:
            same = "/" in program and fnmatch.fnmatchcase(_path_key(program), self.path)
            return same, same
        if "/" in program:
            # A file of that name could be the program (/bin/rm), or anything else (./git).
            return fnmatch.fnmatchcase(command.name, self.words[0]), False
        same = fnmatch.fnmatchcase(command.name, self.words[0])
        return same, same

    def _spec_key(self) -> tuple[str, ...] | None:
        for size in (2, 1):
            key = tuple(self.words[:size])
            if len(key) == size and key in OPTION_SPECS:
                return key
        return None

    def _match_options(self, key: tuple[str, ...], tokens: list[Token]) -> tuple[bool, bool]:
        spec = OPTION_SPECS[key]
        head = tokens[: len(key)]
        if len(head) < len(key):
            return False, False
        head_could = all(_word_could(t, p) for t, p in zip(head[1:], key[1:]))
        if not head_could:
            return False, False
        head_must = all(not t.splits and _word_must(t, p) for t, p in zip(head[1:], key[1:]))
        mine = _normalise(spec, [Token(w) for w in self.words[len(key) :]])
        theirs = _normalise(spec, tokens[len(key) :])
        want = tuple(t.text for t in mine.positionals)
        if self.open_ended:
            could_opts = theirs.wild or mine.options <= theirs.options
            must_opts = mine.options <= theirs.options
        else:
            could_opts = theirs.options <= mine.options and (
                theirs.wild or mine.options <= theirs.options
            )
            must_opts = theirs.options == mine.options and not theirs.wild
        could = could_opts and _sequence_could(want, self.open_ended, theirs.positionals)
        must = (
            head_must
            and must_opts
            and could
            and _sequence_must(want, self.open_ended, theirs.positionals)
        )
        return could, must


__all__ = ["OPTION_SPECS", "CommandPattern", "OptionSpec", "globs_intersect"]
