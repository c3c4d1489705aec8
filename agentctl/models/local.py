"""Local GGUF models: `local/PATH.gguf` served by an in-process llama.cpp server (xllamacpp).

A role whose model is `local/PATH.gguf` (or that names a file with `path:`) gets a server for
that file on a free 127.0.0.1 port, started at its first call and shared by every step and
role of the process that uses the same file and settings; litellm reaches it as
`openai/<alias>` with `api_base`. The server runs on threads inside agentctl's own process, so
it cannot outlive it (a SIGKILL takes it along); it is stopped when the job's steps end,
however they end (the runner closes the model client). It answers only requests that carry a
key made for this process, so another local user cannot borrow it.

xllamacpp comes with the extra `agentctl-jobs[local]` and is imported at the first server's
start only. agentctl never downloads weights: it runs the file it is given.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentctl.errors import AgentctlError, UsageError

LOCAL_PREFIX = "local/"
RUNTIME = "xllamacpp"
INSTALL_HINT = "pip install 'agentctl-jobs[local]' (it installs the llama.cpp runtime, xllamacpp)"
DEFAULT_CONTEXT = 8192  # tokens per slot, lowered to what the model was trained for
DEFAULT_PARALLEL = 1  # a request at a time: on a few cores a second one only halves both


def is_local_model(model: str) -> bool:
    return model.startswith(LOCAL_PREFIX)


def local_model_path(model: str) -> Path:
    """The file a `local/PATH` model string names (`~` expanded)."""
    return Path(model[len(LOCAL_PREFIX) :]).expanduser()


def default_threads() -> int:
    """Half the CPUs this process may use, at least one: on SMT machines that is about the
    physical cores (what llama.cpp runs best on), and on a 2-core machine it leaves a core to
    agentctl and the job's tools. llama.cpp's threads wait for each other by spinning, so one
    thread too many on a busy machine slows generation tenfold (measured on 2 cores under
    load: 0.5 tokens/s with 2 threads, 12 with 1)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, cpus // 2)


@dataclass(frozen=True)
class LocalSettings:
    """How a server runs: its threads, context tokens per request slot, parallel slots."""

    threads: int
    context: int | None  # None: DEFAULT_CONTEXT, or less if the model was trained for less
    parallel: int = DEFAULT_PARALLEL

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> LocalSettings:
        options = options or {}
        return cls(
            threads=int(options.get("threads") or default_threads()),
            context=int(options["context"]) if options.get("context") else None,
            parallel=int(options.get("parallel") or DEFAULT_PARALLEL),
        )


@dataclass(frozen=True)
class LocalEndpoint:
    """Where a running server answers, and what its model's chat template understands."""

    model: str  # what litellm is given: openai/<alias>
    api_base: str
    api_key: str
    template_has_tools: bool  # the template puts the API's `tools` in the prompt
    template_has_tool_role: bool  # the template shows `tool` messages


def runtime_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec(RUNTIME) is not None


def check_local_model(model: str, role: str) -> None:
    """UsageError (exit 2) now, before any step, when the runtime is missing or the file is
    not a GGUF model. Cheap: reads the file's first bytes."""
    path = local_model_path(model)
    if not runtime_installed():
        raise UsageError(
            f"role '{role}' runs the local model {path}, and {RUNTIME} is not installed",
            INSTALL_HINT,
        )
    if not path.is_file():
        raise UsageError(
            f"role '{role}': no model file at {path}",
            "pass --model local/PATH.gguf with a GGUF file you have (agentctl downloads none:"
            " see the README's 'Run with a local model')",
        )
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as error:
        raise UsageError(
            f"cannot read {path}: {error.strerror or error}", "check the file's permissions"
        ) from None
    if magic != b"GGUF":
        raise UsageError(
            f"role '{role}': {path} is not a GGUF model file",
            "llama.cpp runs .gguf files; convert the model or pick its GGUF release",
        )


_ROLE_OVERRIDE = re.compile(r"^([A-Za-z_][A-Za-z0-9_-]*)=(.*)$")  # as roles.resolve_roles


def _absolute(model: str, base: Path) -> str:
    path = local_model_path(model)
    return LOCAL_PREFIX + os.path.normpath(path if path.is_absolute() else base / path)


def local_overrides(
    models: Mapping[str, Any], overrides: Sequence[str], base_dir: Path, cwd: Path
) -> list[str]:
    """The `--model` overrides a job keeps, with every local model's path made absolute, so a
    resume from another folder (or a worker) finds the same file: a recipe role's `path:` or
    `local/` model from the recipe's folder (put first, so the user's overrides still win),
    a `--model local/PATH` from the current folder."""
    out = []
    for name, role in models.items():
        get = role.get if isinstance(role, Mapping) else (lambda k, r=role: getattr(r, k, None))
        path, model = get("path"), get("model") or ""
        if path or is_local_model(model):
            out.append(f"{name}={_absolute(model or f'{LOCAL_PREFIX}{path}', base_dir)}")
    for override in overrides:
        m = _ROLE_OVERRIDE.match(override.strip())
        name, model = (m.group(1), m.group(2).strip()) if m else ("", override.strip())
        if is_local_model(model):
            override = f"{name}={_absolute(model, cwd)}" if name else _absolute(model, cwd)
        out.append(override)
    return out


def check_local_models(roles: Mapping[str, Any], needed: Collection[str]) -> None:
    """check_local_model() for each local model the needed roles (or their fallbacks) use;
    `roles` as roles.resolve_roles gives them."""
    from agentctl.models.roles import fallback_models

    for name in sorted(needed):
        role = roles.get(name) if roles.get(name) and roles[name].model else roles.get("default")
        if role is None:
            continue
        for model in [role.model, *fallback_models(roles, role)]:
            if is_local_model(model):
                check_local_model(model, role.name)


def template_traits(path: Path) -> tuple[bool, bool]:
    """(tools in the prompt, tool messages shown) as the GGUF's chat template says; a file
    without a template gets llama.cpp's generic one, which shows neither."""
    from agentctl.models.gguf import GGUFError, read_metadata

    try:
        template = read_metadata(path, {"tokenizer.chat_template"}).get("tokenizer.chat_template")
    except (GGUFError, OSError):
        template = None
    text = template if isinstance(template, str) else ""
    return "tools" in text, "'tool'" in text or '"tool"' in text


def _trained_context(path: Path) -> int | None:
    from agentctl.models.gguf import GGUFError, read_metadata

    try:
        arch = read_metadata(path, {"general.architecture"}).get("general.architecture")
        key = f"{arch}.context_length"
        value = read_metadata(path, {key}).get(key)
    except (GGUFError, OSError):
        return None
    return int(value) if isinstance(value, int) and value > 0 else None


class _Server:
    """One xllamacpp server; stopping it is dropping the last reference to it."""

    def __init__(self, path: Path, settings: LocalSettings):
        try:
            import xllamacpp
        except ImportError as error:
            raise UsageError(f"cannot import {RUNTIME}: {error}", INSTALL_HINT) from None
        context = settings.context or min(
            DEFAULT_CONTEXT, _trained_context(path) or DEFAULT_CONTEXT
        )
        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.model_alias = [path.stem]
        params.hostnames = ["127.0.0.1"]
        params.port = 0  # a free port, chosen by the server
        params.offline = True  # never fetch anything
        params.use_jinja = True  # the GGUF's own chat template (tools, tool roles)
        params.ui = False
        params.verbosity = -1  # llama.cpp's log lines would cut through the live view
        params.n_parallel = settings.parallel
        params.n_ctx = context * settings.parallel  # llama.cpp splits n_ctx among the slots
        params.cpuparams.n_threads = settings.threads
        params.cpuparams_batch.n_threads = settings.threads
        self.key = secrets.token_urlsafe(24)
        params.api_keys = [self.key]
        try:
            self._server: Any = xllamacpp.Server(params)
        except Exception as error:
            raise AgentctlError(
                f"the local model server did not start for {path}: {error}",
                "check that the file is a complete GGUF model llama.cpp supports, and that"
                " there is memory for it (agentctl models PATH shows what it is)",
            ) from None
        self.api_base = str(self._server.listening_address).rstrip("/") + "/v1"
        self.alias = path.stem
        self.traits = template_traits(path)

    def stop(self) -> None:
        """Free the model: xllamacpp stops its loop in the destructor (under a second, also
        mid-generation when the request's caller has gone, as an interrupted call has). That
        destructor holds the GIL while it waits for requests in flight, so a request whose
        caller still waits on another thread would hang the process: agentctl makes its calls
        on the thread that later closes the client, so none is left waiting."""
        self._server = None


Starter = Callable[[Path, LocalSettings], _Server]
_lock = threading.Lock()
# (file, settings) -> [server, users]: one server per file and settings in the process.
_running: dict[tuple[Path, LocalSettings], list[Any]] = {}


def running_servers() -> int:
    with _lock:
        return len(_running)


class LocalModels:
    """A model client's local servers: each started at its first use (or shared with another
    client of the process already using it) and given back by close()."""

    def __init__(self, starter: Starter | None = None):
        self._starter = starter or _Server
        self._held: dict[tuple[Path, LocalSettings], LocalEndpoint] = {}

    def endpoint(self, model: str, options: Mapping[str, Any] | None = None) -> LocalEndpoint:
        path = local_model_path(model).resolve()
        key = (path, LocalSettings.from_options(options))
        held = self._held.get(key)
        if held is not None:
            return held
        with _lock:  # held across the start: two steps must not load the file twice
            entry = _running.get(key)
            if entry is None:
                entry = _running[key] = [self._starter(*key), 0]
            entry[1] += 1
        server = entry[0]
        tools, tool_role = server.traits
        held = LocalEndpoint(
            model=f"openai/{server.alias}",
            api_base=server.api_base,
            api_key=server.key,
            template_has_tools=tools,
            template_has_tool_role=tool_role,
        )
        self._held[key] = held
        return held

    def close(self) -> None:
        """Give back every server this client used; the last user stops it."""
        with _lock:
            for key in self._held:
                entry = _running.get(key)
                if entry is None:
                    continue
                entry[1] -= 1
                if entry[1] <= 0:
                    del _running[key]
                    entry[0].stop()
        self._held.clear()
