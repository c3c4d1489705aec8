"""The queue-only shape of `agentctl [--db X] [--debug] run RECIPE --queue [Q] [options]`.

`parse_queue_argv` reads an argv the way the typer app would for the options that only shape
a queued job, and answers None for anything else (another command, `--help`, an option it
does not know, a repeated single-valued option, `-pX`, `--`, `run -`, a `--db` URL with a
password): the app then parses it as always. Its grammar is click's for these options: a
value option takes the next argument whatever it is (here: refused when that starts with `-`),
`--name=value` works too, and a bare `--queue` (last, or before another option) is `default`.
"""

from __future__ import annotations

# Flags of `run` (and the global --debug) that may appear after the command name.
_FLAGS = {
    "--json": "json_out",
    "--quiet": "quiet",
    "-q": "quiet",
    "--shared-workspace": "shared_workspace",
    "--force-workspace": "force_workspace",
    "--non-interactive": "non_interactive",
    "--debug": "debug",
}
# Options that take a value; those in _LISTS may be repeated.
_VALUES = {
    "-p": "param",
    "--param": "param",
    "--workspace": "workspace",
    "--policy": "policy",
    "--model": "model",
    "--key": "key",
    "--priority": "priority",
    "--not-before": "not_before",
    "--db": "db",
    "--queue": "queue",
}
_LISTS = frozenset({"param", "policy", "model"})


class QueueArgs:
    """What a queue-only `run` command line asks for (the names are `run`'s parameters)."""

    def __init__(self) -> None:
        self.recipe: str | None = None
        self.queue: str | None = None
        self.param: list[str] = []
        self.policy: list[str] = []
        self.model: list[str] = []
        self.workspace: str | None = None
        self.key: str | None = None
        self.priority: int = 0
        self.not_before: str | None = None
        self.db: str | None = None  # `run --db`, which wins over the global one
        self.global_db: str | None = None
        self.json_out = False
        self.quiet = False
        self.shared_workspace = False
        self.force_workspace = False
        self.non_interactive = False
        self.debug = False


def parse_queue_argv(argv: list[str]) -> QueueArgs | None:
    """The queue-only command line `argv` (without the program name), or None."""
    if any(_holds_password(arg) for arg in argv):
        return None  # the app hides it from `ps` and warns first
    args = QueueArgs()
    i = _global_options(argv, args)
    if i is None or i >= len(argv) or argv[i] != "run":
        return None
    seen: set[str] = set()
    i += 1
    while i < len(argv):
        arg = argv[i]
        if arg in _FLAGS:
            setattr(args, _FLAGS[arg], True)
            i += 1
            continue
        if not arg.startswith("-") or arg == "-":
            if args.recipe is not None or not arg or arg == "-":
                return None  # a second argument, an empty one, or stdin: the app's cases
            args.recipe = arg
            i += 1
            continue
        name, value, i = _option_value(argv, i)
        if name is None or value is None:
            return None
        if name not in _LISTS:
            if name in seen:
                return None  # the app takes the last one; leave that to it
            seen.add(name)
        if not _take(args, name, value):
            return None
    if args.recipe is None or args.queue is None:
        return None
    return args


def _holds_password(arg: str) -> bool:
    """A URL with a password (`scheme://user:PASS@host`), read loosely: anything between
    `://` and the last `@` that has a colon (a password may hold `/` or `@`)."""
    _, sep, rest = arg.partition("://")
    return bool(sep) and ":" in rest.rpartition("@")[0]


def _global_options(argv: list[str], args: QueueArgs) -> int | None:
    """The index of the command name after the global `--db X`, `--db=X` and `--debug`."""
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        arg = argv[i]
        if arg == "--debug":
            args.debug = True
            i += 1
        elif arg.startswith("--db="):
            args.global_db, i = arg[len("--db=") :], i + 1
        elif arg == "--db" and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
            args.global_db, i = argv[i + 1], i + 2
        else:
            return None
    if args.global_db == "":
        return None
    return i


def _option_value(argv: list[str], i: int) -> tuple[str | None, str | None, int]:
    """(parameter name, value, next index) of the value option at argv[i]; None if unknown."""
    arg = argv[i]
    flag, eq, attached = arg.partition("=")
    if flag not in _VALUES or (eq and not flag.startswith("--")):
        return None, None, i + 1
    name = _VALUES[flag]
    if eq:
        return name, attached, i + 1
    following = argv[i + 1] if i + 1 < len(argv) else None
    if flag == "--queue" and (following is None or following.startswith("-")):
        return name, "default", i + 1  # a bare --queue (cli/app.py's OPTIONAL_VALUES)
    if following is None or following.startswith("-"):
        return None, None, i + 1
    return name, following, i + 2


def _take(args: QueueArgs, name: str, value: str) -> bool:
    if name in _LISTS:
        getattr(args, name).append(value)
        return True
    if name == "priority":
        try:
            args.priority = int(value)
        except ValueError:
            return False
        return True
    if not value:
        return False  # `--db=` and friends: the app's defaults and messages
    setattr(args, name, value)
    return True
