"""The one path-glob dialect of agentctl: policy `paths:` and the built-in protections
(agentctl.policy.match, agentctl.policy.touches), a recipe's `changes.exclude`
(agentctl.changes.scan) and the workspace's `.gitignore` lines (agentctl.changes.ignore).

`*` and `?` stay within one path name, `[...]` is a class (`[!...]` or `[^...]` negated),
`**/` is any number of directories (none included), a trailing `/**` is everything below a
directory and the directory itself, any other `**` is any run of characters, and `\\x` is
the character x itself (as in .gitignore: `\\*` is a literal star).
"""

from __future__ import annotations

import re


def glob_pattern(pattern: str) -> str:
    """The regex source for a path glob (match it with `fullmatch`)."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == n:
            out.append("(?:/.*)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 2
        elif c == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end]
            negate = body[:1] in ("!", "^")
            body = body[1:] if negate else body
            out.append("[" + ("^" if negate else "") + body.replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


def glob_regex(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    """A path glob compiled (match it with `fullmatch`)."""
    return re.compile(glob_pattern(pattern), re.IGNORECASE if ignore_case else 0)
