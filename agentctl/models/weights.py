"""What a local model file is: its size, sha256 and what its GGUF header says (name,
architecture, size label, licence, trained context), so a person can tell which weights a job
runs. agentctl never downloads or bundles weights; this only reads the file it is given.

`describe_local_model` is the report for one file; `models_report` lists a recipe's roles
(after `--model` overrides) with a description of each local file. `agentctl models` prints
it; `agentctl doctor RECIPE` uses describe_local_model for its local roles.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agentctl.models.gguf import GGUFError, read_metadata
from agentctl.models.local import is_local_model, local_model_path, local_overrides


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe_local_model(path: Path, *, with_hash: bool = True) -> dict[str, Any]:
    """{"path", "exists", "size_bytes", "sha256", "name", "architecture", "size_label",
    "license", "context_length", "chat_template_tools", "error"}: what is known of the file.
    `error` says why a field is missing (no file, not GGUF); hashing reads the whole file."""
    out: dict[str, Any] = {"path": str(path), "exists": path.is_file(), "error": None}
    if not out["exists"]:
        out["error"] = "no such file"
        return out
    out["size_bytes"] = path.stat().st_size
    try:
        meta = read_metadata(path)
    except (GGUFError, OSError) as error:
        out["error"] = f"not a GGUF model: {error}"
        meta = {}
    names = {"name": "general.name", "architecture": "general.architecture"}
    names |= {"size_label": "general.size_label", "license": "general.license"}
    for field, key in names.items():
        out[field] = meta.get(key)
    arch = meta.get("general.architecture")
    out["context_length"] = meta.get(f"{arch}.context_length") if arch else None
    template = meta.get("tokenizer.chat_template")
    out["chat_template_tools"] = "tools" in template if isinstance(template, str) else False
    if with_hash:
        out["sha256"] = file_sha256(path)
    return out


def models_report(
    models: Mapping[str, Any],
    overrides: Sequence[str],
    base_dir: Path,
    cwd: Path,
    env: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """One entry per role (its model and fallbacks), with `local` describing each local
    file: paths from the recipe resolve against its folder, `--model` ones against `cwd`."""
    from agentctl.models.roles import fallback_models, resolve_roles

    roles = resolve_roles(models, local_overrides(models, overrides, base_dir, cwd), env)
    out = []
    for name in sorted(roles):
        role = roles[name]
        if not role.model:
            continue
        entries = []
        for target in [role.model, *fallback_models(roles, role)]:
            entry: dict[str, Any] = {"model": target}
            if is_local_model(target):
                entry["local"] = describe_local_model(local_model_path(target))
            entries.append(entry)
        out.append({"role": name, "models": entries})
    return out


def describe_lines(entry: Mapping[str, Any]) -> list[str]:
    """A local file's description as lines for a person."""
    if entry.get("error") == "no such file":
        return [f"{entry['path']}: no such file"]
    mib = entry.get("size_bytes", 0) / (1 << 20)
    what = ", ".join(
        str(entry[k]) for k in ("architecture", "size_label", "license") if entry.get(k)
    )
    lines = [
        f"{entry['path']}",
        f"  name: {entry.get('name') or '(none in the file)'}" + (f" ({what})" if what else ""),
        f"  size: {mib:.1f} MiB; sha256: {entry.get('sha256', '?')}",
    ]
    if entry.get("context_length"):
        tools = "shows tools" if entry.get("chat_template_tools") else "shows no tools"
        lines.append(f"  trained context: {entry['context_length']} tokens; chat template {tools}")
    if entry.get("error"):
        lines.append(f"  error: {entry['error']}")
    return lines
