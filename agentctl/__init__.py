"""agentctl: run AI agents as durable, resumable, audited jobs.

The distribution on PyPI is `agentctl-jobs` (the name `agentctl` there belongs to an unrelated
project); the command and the import package are `agentctl`. The version lives once, in
pyproject.toml, and is read from the installed distribution's metadata.
"""

from __future__ import annotations

from typing import Any

DISTRIBUTION = "agentctl-jobs"


def installed_version() -> str:
    """The installed distribution's version; from a checkout that is not installed (tests run
    with PYTHONPATH), the version pyproject.toml beside the package declares."""
    from importlib.metadata import PackageNotFoundError, version
    from pathlib import Path

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        pass
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
        import tomllib

        return str(tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"])
    except (OSError, KeyError, ValueError):
        return "unknown"


def __getattr__(name: str) -> Any:
    # Lazy: reading metadata costs milliseconds that `agentctl jobs` should not pay.
    if name == "__version__":
        return installed_version()
    raise AttributeError(name)
