"""What a runner is given (`RunnerDeps`) and what it returns (`Outcome`)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentctl.engine.heartbeat import BeatFactory, Heartbeat
from agentctl.process.procinfo import ProcessIdentity, current_process, is_process_alive

if TYPE_CHECKING:
    from pathlib import Path

    from agentctl.engine.approvals import Approver
    from agentctl.models.client import ModelClient
    from agentctl.recipe.load import LoadedRecipe
    from agentctl.recipe.schema import Recipe
    from agentctl.store import Event, Store

# Makes the model client a job's agent steps call: (the recipe, the job's options).
ModelFactory = Callable[["Recipe", Mapping[str, Any]], "ModelClient"]
# Parses a job's recipe text: (text, the name errors give, the folder `policy:` is read from).
RecipeLoader = Callable[[str, str, "Path | None"], "LoadedRecipe"]


@dataclass
class RunnerDeps:
    """What a runner needs from the outside; tests replace any of it."""

    store: Store
    model_factory: ModelFactory
    clock: Callable[[], float] = time.time
    identity: ProcessIdentity = field(default_factory=current_process)
    is_alive: Callable[[int, str], bool] = is_process_alive
    approver: Approver | None = None
    on_event: Callable[[Event], None] | None = None
    on_text: Callable[[str], None] | None = None
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    lease_ttl: float = 15.0
    heartbeat_interval: float = 0.25
    # A job forked by a warm worker hears its worker's beats instead (`parent_beat`).
    heartbeat: BeatFactory = Heartbeat
    limits: Mapping[str, float] = field(default_factory=dict)  # `resume --limit KEY=VALUE`
    # A lease a worker claimed for this runner (its fencing token), adopted instead of taken.
    claimed_token: int | None = None
    # Runs in the background (`run --detach`): with no approver, it waits for each decision
    # made elsewhere instead of parking, and an approval restarts it if it is gone.
    detached: bool = False
    # How the recipe text is parsed (None: `load_recipe_text`); a warm worker's children
    # find the recipes the worker parsed already (`engine.worker.RecipeMemo`).
    load_recipe: RecipeLoader | None = None


@dataclass
class Outcome:
    job_id: str
    state: str
    exit_code: int
    error: dict[str, str] | None = None
    pending: list[dict[str, Any]] = field(default_factory=list)
