"""`agentctl doctor`: what this machine gives agentctl, checked the way a run would use it.

Each check is a `Finding` (ok / warn / fail, a detail, the next command when it is not ok):
the versions, the job database (where, which backend, its size, whether it opens), the
sandbox (whether bubblewrap confines here and why not), which provider keys are set (names
only: a value is never read into the report), and, for a recipe, whether each model role has
a model and a key and whether its endpoint answers. Nothing here prints; `cli/doctor.py` does.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from agentctl.errors import AgentctlError

Status = Literal["ok", "warn", "fail"]
ENDPOINT_TIMEOUT_S = 3.0

# The public API host of a provider, for "does the endpoint answer" when a role has no
# api_base (litellm knows more, but importing it costs seconds; these are the usual ones).
PROVIDER_HOSTS = {
    "openai": "api.openai.com",
    "anthropic": "api.anthropic.com",
    "gemini": "generativelanguage.googleapis.com",
    "mistral": "api.mistral.ai",
    "groq": "api.groq.com",
    "deepseek": "api.deepseek.com",
    "openrouter": "openrouter.ai",
    "xai": "api.x.ai",
    "together_ai": "api.together.xyz",
}


@dataclass
class Finding:
    area: str  # "version" | "database" | "sandbox" | "keys" | "model"
    name: str
    status: Status
    detail: str
    hint: str = ""
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    findings: list[Finding]

    @property
    def ok(self) -> bool:
        return all(f.status != "fail" for f in self.findings)

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [asdict(f) for f in self.findings]}


def diagnose(
    db: str | None, recipe: Path | None = None, env: Mapping[str, str] | None = None
) -> Report:
    """Every check, in the order a person reads them."""
    env = os.environ if env is None else env
    findings = [*_versions(), _database(db), _sandbox(), _keys(env)]
    if recipe is not None:
        findings += _recipe_models(recipe, env)
    return Report(findings)


def _versions() -> list[Finding]:
    from importlib.metadata import PackageNotFoundError, version

    from agentctl import installed_version

    def of(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    facts = {
        "agentctl": installed_version(),
        "python": platform.python_version(),
        "litellm": of("litellm"),
        "platform": f"{sys.platform} {platform.machine()}",
    }
    detail = ", ".join(f"{k} {v}" for k, v in facts.items())
    return [Finding("version", "versions", "ok", detail, facts=facts)]


def _database(db: str | None) -> Finding:
    from agentctl.paths import resolve_db_target
    from agentctl.store import open_store

    target = resolve_db_target(db)
    if isinstance(target, Path):
        facts: dict[str, Any] = {"backend": "sqlite", "location": str(target)}
        if not target.exists():
            return Finding(
                "database",
                "database",
                "ok",
                f"SQLite at {target} (not created yet: the first `agentctl run` makes it)",
                facts={**facts, "exists": False},
            )
        size = sum(
            p.stat().st_size
            for p in (target, Path(f"{target}-wal"), Path(f"{target}-shm"))
            if p.exists()
        )
        facts.update(exists=True, size_bytes=size)
    else:
        facts = {"backend": "postgresql"}
    try:
        store = open_store(target)
    except AgentctlError as error:
        return Finding("database", "database", "fail", error.message, error.hint, facts)
    try:
        facts["location"] = store.location
        facts["jobs"] = len(store.list_jobs())
    except AgentctlError as error:
        return Finding("database", "database", "fail", error.message, error.hint, facts)
    finally:
        store.close()
    size_text = f", {_size(facts['size_bytes'])}" if "size_bytes" in facts else ""
    jobs = f"{facts['jobs']} job" + ("" if facts["jobs"] == 1 else "s")
    detail = f"{facts['backend']} at {facts['location']}{size_text}, {jobs}"
    return Finding("database", "database", "ok", detail, facts=facts)


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} bytes"


def _sandbox() -> Finding:
    from agentctl.process.sandbox import probe_confinement

    found = probe_confinement()
    facts = {
        "kind": found.kind,
        "bwrap": shutil.which(found.bwrap) if found.available else None,
        "network_isolation": found.network_isolation,
        "seccomp": found.seccomp is not None,
        "notes": found.notes,
    }
    if not found.available:
        return Finding(
            "sandbox",
            "sandbox",
            "warn",
            f"shell tools cannot be confined here: {found.reason}",
            "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap); until then a "
            "policy with `sandbox: required` refuses shell tools and `preferred` asks for each",
            facts,
        )
    detail = "bubblewrap confines shell tools"
    if not found.network_isolation:
        detail += f" (without network isolation: {found.reason})"
    if found.notes:
        detail += f"; {found.notes.lstrip('; ')}"
    return Finding("sandbox", "sandbox", "ok", detail, facts=facts)


def _keys(env: Mapping[str, str]) -> Finding:
    from agentctl.models.roles import PROVIDER_KEY_ENV

    names = sorted({n for keys in PROVIDER_KEY_ENV.values() for n in keys if env.get(n)})
    model = env.get("AGENTCTL_MODEL")
    facts = {"set": names, "agentctl_model": model}
    if not names and not model:
        return Finding(
            "keys",
            "provider keys",
            "warn",
            "no provider key is set and AGENTCTL_MODEL is empty",
            "set a key (e.g. OPENAI_API_KEY) or point a role at a local server with api_base;"
            " `--replay FILE` runs a recorded session with no model",
            facts,
        )
    said = ", ".join(names) if names else "none"
    detail = f"set: {said}" + (f"; AGENTCTL_MODEL={model}" if model else "")
    return Finding("keys", "provider keys", "ok", detail, facts=facts)


def _recipe_models(path: Path, env: Mapping[str, str]) -> list[Finding]:
    from agentctl.models.roles import InlineModel, inline_role, key_names_for, resolve_roles
    from agentctl.recipe.load import load_recipe

    loaded = load_recipe(path)  # an invalid recipe is the caller's error (exit 2)
    recipe = loaded.recipe
    used = {s.agent.model for s in recipe.steps if s.agent is not None}
    from agentctl.models.local import local_overrides

    # A role's `path:` (a local model) is relative to the recipe's folder, as `run` takes it.
    roles = resolve_roles(
        recipe.models, local_overrides(recipe.models, [], loaded.base_dir, Path.cwd()), env
    )
    out: list[Finding] = []
    for name in sorted(used | set(recipe.models)):
        role = roles.get(name)
        if role is None or not role.model:
            out.append(
                Finding(
                    "model",
                    f"role {name}",
                    "fail",
                    "no model: the recipe gives none and AGENTCTL_MODEL is empty",
                    "set AGENTCTL_MODEL, add models: to the recipe, or pass --model",
                )
            )
            continue
        for model in [role.model, *role.fallbacks]:
            owner = role
            if isinstance(model, InlineModel):  # a fallback with its own endpoint and key
                owner, model = inline_role(role, model), model.model
            out.append(_model_finding(name, owner, model, key_names_for(owner, model), env))
    return out


def _model_finding(
    name: str, role: Any, model: str, keys: tuple[str, ...], env: Mapping[str, str]
) -> Finding:
    facts: dict[str, Any] = {"role": name, "model": model}
    if model.startswith("local/"):
        return _local_model_finding(name, model, facts)
    if role.api_key_env and not env.get(role.api_key_env):
        missing: tuple[str, ...] = (role.api_key_env,)
    elif keys and not any(env.get(k) for k in keys) and not role.api_base:
        missing = keys
    else:
        missing = ()
    url = _endpoint_url(role, model)
    facts["endpoint"] = url
    if missing:
        return Finding(
            "model",
            f"role {name}: {model}",
            "fail",
            f"needs {' or '.join(missing)}, which is not set",
            f"export {missing[0]}=... before `agentctl run`",
            facts,
        )
    if url is None:
        return Finding(
            "model", f"role {name}: {model}", "ok", "no endpoint to check here", facts=facts
        )
    answer = check_endpoint(url)
    facts["answer"] = answer
    host = urllib.parse.urlsplit(url).netloc
    if answer.startswith("http ") or answer == "connected":
        return Finding(
            "model", f"role {name}: {model}", "ok", f"{host} answers ({answer})", facts=facts
        )
    return Finding(
        "model",
        f"role {name}: {model}",
        "fail",
        f"{host} does not answer: {answer}",
        "check api_base (is the server running?) or the network; a fallback is tried when"
        " the model fails",
        facts,
    )


def _local_model_finding(name: str, model: str, facts: dict[str, Any]) -> Finding:
    """A local GGUF model: is the runtime there, and what is the file (size, sha256, name)."""
    from agentctl.errors import UsageError
    from agentctl.models.local import check_local_model, local_model_path
    from agentctl.models.weights import describe_local_model

    label = f"role {name}: {model}"
    try:
        check_local_model(model, name)
    except UsageError as error:
        return Finding("model", label, "fail", error.message, error.hint, facts)
    facts["local"] = file = describe_local_model(local_model_path(model))
    detail = f"{file.get('name') or 'unnamed'}, {file['size_bytes'] / (1 << 20):.1f} MiB, sha256 {file['sha256'][:16]}…"
    return Finding("model", label, "ok", detail, facts=facts)


def _endpoint_url(role: Any, model: str) -> str | None:
    if role.api_base and model == role.model:
        return str(role.api_base).rstrip("/") + "/models"
    provider = model.split("/", 1)[0] if "/" in model else "openai"
    host = PROVIDER_HOSTS.get(provider)
    return f"https://{host}/" if host else None


def check_endpoint(url: str, timeout: float = ENDPOINT_TIMEOUT_S) -> str:
    """ "http NNN" when an HTTP server answered (any status: it is there), "connected" when
    only the connection could be made, else why it could not."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.path in ("", "/"):
        port = parts.port or 443
        try:
            with socket.create_connection((parts.hostname or "", port), timeout=timeout):
                return "connected"
        except OSError as e:
            return _reason(e)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return f"http {reply.status}"
    except urllib.error.HTTPError as e:
        return f"http {e.code}"
    except (urllib.error.URLError, OSError) as e:
        return _reason(getattr(e, "reason", e))


def _reason(error: object) -> str:
    text = str(getattr(error, "strerror", None) or error)
    return text if text else type(error).__name__
