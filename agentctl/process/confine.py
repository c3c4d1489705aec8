"""The one place a command is confined: a job's `SandboxSettings` meet this machine.

`resolve_sandbox(settings)` asks the probe once and says how a command will run: confined by
bubblewrap, unconfined (and why), or not at all (`sandbox: required` where no sandbox works).
`Sandbox.record()` is what the engine logs of it with the action; `Sandbox.argv()` is the
command line started: the reaper (resource limits, the whole tree stopped, the seccomp filter
handed to bwrap, root dropping to the workspace's owner) over bubblewrap
(`agentctl.process.bwrap`) over the shell. The shell and custom tools (through
`agentctl.process.run.run_process`), interactive sessions and stdio MCP servers all start
their processes from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from agentctl.process import reaper
from agentctl.process.bwrap import build_argv
from agentctl.process.sandbox import (
    SECCOMP_FD,
    Confinement,
    SandboxSettings,
    confinement_for,
    probe_confinement,
)
from agentctl.process.sandbox_user import sandbox_user


@dataclass(frozen=True)
class Sandbox:
    """How one command runs: `settings` with the `confinement` that works here (None or
    unavailable: unconfined), or the `refusal` to give instead of running it; `reason` says
    why a command runs unconfined or is refused."""

    settings: SandboxSettings = field(default_factory=SandboxSettings)
    confinement: Confinement | None = None
    refusal: str | None = None
    reason: str | None = None

    @property
    def confined(self) -> bool:
        return self.confinement is not None and self.confinement.available

    @property
    def kind(self) -> str:
        """ "bwrap" | "none": how the command is confined."""
        return "bwrap" if self.confined else "none"

    def record(self) -> dict[str, Any]:
        """What the engine logs of how the action ran (the `confinement` of its event):

        {"confinement": "bwrap" | "none", "mode": ..., "network": bool, "refused": bool,
         "reason": why unconfined or refused, else None}"""
        return {
            "confinement": self.kind,
            "mode": self.settings.mode,
            "network": self.settings.network,
            "refused": self.refusal is not None,
            "reason": self.reason,
        }

    def argv(
        self,
        command: str,
        *,
        workspace: Path | None,
        env: Mapping[str, str],
        rlimits: dict[str, tuple[int, int]],
        pgroup: bool = True,
        deathsig: bool = True,
        new_session: bool = True,
        grace: float = 0.5,
        also_visible: Iterable[Path] = (),
    ) -> list[str]:
        """The command line that runs `command` (see the module docstring).

        `env` is the environment it is started with (never written on the command line).
        `pgroup`, `deathsig`, `rlimits` and `grace` go to the reaper (`reaper_argv`);
        `new_session` false keeps the caller's terminal (a session's own pty);
        `also_visible`: more paths shown read-only in hidden homes (an MCP server's program).
        """
        if self.refusal is not None:
            raise ValueError(f"a refused command is not started: {self.refusal}")
        settings = self.settings
        extra = tuple(also_visible)
        if extra:
            settings = replace(settings, visible_paths=(*settings.visible_paths, *extra))
        confinement = self.confinement if self.confined else None
        seccomp = confinement.seccomp if confinement is not None else None
        inner = build_argv(
            command,
            settings,
            workspace=workspace,
            confinement=confinement,
            env=env,
            new_session=new_session,
            seccomp_fd=SECCOMP_FD if seccomp else None,
        )
        return reaper.reaper_argv(
            inner,
            pgroup=pgroup,
            deathsig=deathsig,
            rlimits=rlimits,
            grace=grace,
            seccomp=seccomp,
            seccomp_fd=SECCOMP_FD,
            user=sandbox_user(workspace).host_ids if confinement and workspace else None,
        )


def resolve_sandbox(settings: SandboxSettings, *, available: Confinement | None = None) -> Sandbox:
    """How a command runs here under `settings`; `available` replaces the probe (tests)."""
    confinement, refusal = confinement_for(
        settings.mode, network=settings.network, available=available
    )
    confined = confinement is not None and confinement.available
    reason = refusal
    if reason is None and not confined:
        if settings.mode == "off":
            reason = "sandbox is off"
        else:
            reason = (probe_confinement() if available is None else available).reason
    return Sandbox(settings, confinement, refusal, reason)
