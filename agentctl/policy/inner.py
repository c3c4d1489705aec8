"""What one command runs: the `Inner` command and the HOLE that stands for unknown text.

Shared by the tables that find inner commands (`agentctl.policy.wrappers`,
`agentctl.policy.runs_code`, `agentctl.policy.git_code`, `agentctl.policy.environment`).
"""

from __future__ import annotations

from dataclasses import dataclass

# Stands for text the parser cannot know (a $VAR, a file name find will pass, stdin's lines).
HOLE = "\ue000"


@dataclass(frozen=True)
class Inner:
    """A command another command runs: split words, a string a shell parses, or neither
    (unknown code: it could be any command)."""

    via: str  # what runs it: "env", "bash -c", "find -exec", "rg --pre", ...
    words: tuple[str, ...] | None = None
    source: str | None = None
    splits: tuple[int, ...] = ()  # indexes of words that may become several words

    @classmethod
    def unknown(cls, via: str) -> Inner:
        return cls(via, words=(HOLE, HOLE), splits=(0, 1))

    @property
    def is_unknown(self) -> bool:
        return self.words is not None and bool(self.words) and self.words[0] == HOLE


Analysis = tuple[set[str], list[Inner]]


def code_source(via: str, text: str) -> Inner:
    """Code given as text: a shell command line, or unknown when it holds an unknown value."""
    return Inner.unknown(via) if HOLE in text else Inner(via, source=text)


def option_value(args: tuple[str, ...], i: int, names: tuple[str, ...]) -> tuple[str, int] | None:
    """The value of option args[i] if it is one of `names` (`--opt VALUE`, `--opt=VALUE`,
    `-oVALUE` for a one-letter name, or a unique long prefix like `--expr=`), and the index
    after it; else None."""
    word = args[i]
    for name in names:
        if word == name:
            return (args[i + 1], i + 2) if i + 1 < len(args) else ("", i + 1)
        if name.startswith("--"):
            key, eq, value = word.partition("=")
            if len(key) > 3 and name.startswith(key) and key.startswith("--"):
                if eq:
                    return value, i + 1
                return (args[i + 1], i + 2) if i + 1 < len(args) else ("", i + 1)
        elif len(name) == 2 and word.startswith(name) and len(word) > 2:
            return word[2:], i + 1
    return None


__all__ = ["HOLE", "Analysis", "Inner", "code_source", "option_value"]
