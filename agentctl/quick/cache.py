"""Recipes already validated for `run --queue`: one small JSON file each, under the user's
cache dir (`<cache>/agentctl/enqueue-v1/`), so a repeat enqueue skips pydantic and jinja2.

The file's name is a hash of everything the validation read that does not change between
calls of one service: the package's code (its files' sizes and times, which change with every
install or edit), the recipe's bytes, path and folder, the current folder and home, and the
`-p`, `--policy` and `--model` arguments. What it read besides is checked again on every use:
the environment variables it consulted (`EnvRecorder`; only whether a key is set, never its
value, except for the settings AGENTCTL_MODEL and AGENTCTL_STREAM) and the policy files'
text. The cache never decides anything alone: a file that is missing, unreadable, corrupt,
of another format, or not the user's own is a miss, and a cache dir that cannot be written
is no error (the entry is not kept). Writes are atomic (a private temporary file renamed
into place) and the folder keeps at most MAX_ENTRIES files (the oldest go first).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Collection, Iterator, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # (no typing at run time: an entry is the JSON it was read from)
    from typing import TypedDict

    from agentctl.events import JsonObject

    class PolicySource(TypedDict):
        source: str  # as `--policy` or the recipe's `policy:` names it, made absolute
        path: str  # resolved, as the job keeps it
        text: str

    class Facts(TypedDict):
        """What a queued job keeps of the recipe's checks."""

        name: str
        steps: list[dict[str, str]]  # each step's id and kind
        recipe_git: bool  # the recipe names a git workspace
        params: JsonObject
        models: list[str]
        policies: list[PolicySource]

    class Entry(TypedDict):
        facts: Facts
        env: dict[str, str | None]  # what the checks saw of each variable (`observe`)


FORMAT = "enqueue-v1"
MAX_ENTRIES = 256
# Where the validation's code lives (relative to the package): its files' signature is part
# of every key, so an upgrade or an edit never reuses an old verdict.
_CODE_DIRS = ("", "recipe", "policy", "models", "engine", "engine/steps", "tools", "quick")


def cache_dir(env: Mapping[str, str] = os.environ) -> str:
    """platformdirs' user cache dir for agentctl (its Linux rule inline: importing
    platformdirs costs more than the rest of a cache hit), then this format's folder."""
    if sys.platform.startswith("linux"):
        base = env.get("XDG_CACHE_HOME", "")
        if not base.strip():
            base = os.path.expanduser("~/.cache")
        root = os.path.join(base, "agentctl")
    else:  # pragma: no cover - other systems' rules are platformdirs' own
        import platformdirs

        root = platformdirs.user_cache_dir("agentctl", appauthor=False)
    return os.path.join(root, FORMAT)


def code_signature() -> str:
    """Every module of the validation's code, by name, size and modification time."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parts = []
    for folder in _CODE_DIRS:
        try:
            entries = sorted(os.scandir(os.path.join(package, folder)), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if entry.name.endswith(".py"):
                stat = entry.stat()
                parts.append(f"{folder}/{entry.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def entry_key(inputs: list[object]) -> str:
    """The file name for these inputs (a JSON list of strings and lists of strings)."""
    text = json.dumps([FORMAT, code_signature(), *inputs], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def _own_folder(folder: str) -> bool:
    """The folder is this user's and nobody else may write in it."""
    try:
        stat = os.stat(folder)
    except OSError:
        return False
    return stat.st_uid == os.getuid() and not stat.st_mode & 0o022


def load(key: str, folder: str | None = None) -> Entry | None:
    """The entry for `key`, or None (a miss) for any doubt about it."""
    folder = folder or cache_dir()
    path = os.path.join(folder, f"{key}.json")
    try:
        if not _own_folder(folder):
            return None
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_uid != os.getuid():
                return None
            entry = json.loads(f.read())
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("format") != FORMAT or entry.get("key") != key:
        return None
    if not isinstance(entry.get("facts"), dict) or not isinstance(entry.get("env"), dict):
        return None
    return entry  # type: ignore[return-value]  # JSON; its facts are checked where used


def store(key: str, entry: Entry, folder: str | None = None) -> bool:
    """Keep the entry for `key` (atomically); False when the cache dir cannot be written."""
    folder = folder or cache_dir()
    data = json.dumps({**entry, "format": FORMAT, "key": key}, ensure_ascii=False)
    temporary = os.path.join(folder, f".{key}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        if not _own_folder(folder):
            return False
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data.encode("utf-8", "surrogateescape"))
            os.replace(temporary, os.path.join(folder, f"{key}.json"))
        except BaseException:
            _remove(temporary)
            raise
        _bound(folder)
    except OSError:
        return False
    return True


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _bound(folder: str, most: int = MAX_ENTRIES) -> None:
    """At most `most` entries: the oldest beyond that go (and stray temporary files of
    writers that died, once they are an hour old)."""
    entries: list[tuple[float, str]] = []
    for entry in os.scandir(folder):
        try:
            mtime = entry.stat().st_mtime
        except OSError:
            continue
        if entry.name.endswith(".json"):
            entries.append((mtime, entry.path))
        elif entry.name.endswith(".tmp") and mtime < _now() - 3600:
            _remove(entry.path)
    if len(entries) > most:
        for _, path in sorted(entries)[: len(entries) - most]:
            _remove(path)


def _now() -> float:
    import time

    return time.time()


# -- the environment a validation read ----------------------------------------------------


# Settings whose value a check uses (a model name, a mode): kept as they are. Any other
# variable is kept only as unset, empty, blank or set: all a key check asks of it.
VALUE_NAMES = frozenset({"AGENTCTL_MODEL", "AGENTCTL_STREAM"})


def observe(env: Mapping[str, str], name: str) -> str | None:
    """What a check can have seen of one variable: a setting's value (VALUE_NAMES), else only
    whether it is unset, empty, blank or set (a key's value never reaches the cache)."""
    value = env.get(name)
    if value is None or name in VALUE_NAMES:
        return value
    if not value:
        return "<empty>"
    return "<set>" if value.strip() else "<blank>"


def faithful(names: Collection[str]) -> bool:
    """Whether `observe` says all a check can have used of these variables: another AGENTCTL_
    setting may be read for its value (a verdict that read one is not kept)."""
    return not any(n.startswith("AGENTCTL_") and n not in VALUE_NAMES for n in names)


class EnvRecorder(Mapping[str, str]):
    """os.environ as a validation sees it, noting each name it reads; reading it whole
    (iteration, len) makes the verdict depend on everything: `whole` is then True."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self.names: set[str] = set()
        self.whole = False

    def __getitem__(self, name: str) -> str:
        self.names.add(name)
        return self._env[name]

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str):
            self.names.add(name)
        return name in self._env

    def __iter__(self) -> Iterator[str]:
        self.whole = True
        return iter(self._env)

    def __len__(self) -> int:
        self.whole = True
        return len(self._env)

    def observed(self) -> dict[str, str | None]:
        return {name: observe(self._env, name) for name in sorted(self.names)}


def same_environment(observed: Mapping[str, str | None], env: Mapping[str, str]) -> bool:
    return all(observe(env, name) == seen for name, seen in observed.items())
