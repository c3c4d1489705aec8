"""What a warm worker keeps of the recipes it saw, so that neither it nor its job children
parse the same recipe again (`agentctl.engine.worker.forking_worker_for_store`)."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentctl.recipe.load import LoadedRecipe
    from agentctl.store import Store


class RecipeMemo:
    """The recipes a warm worker parsed, the last `size` distinct ones: the worker reads from
    one whether a job calls a model, and the job's child, forked after, finds it parsed
    (each job parsed its recipe's YAML and validated it again, in the worker and the child).
    A recipe is looked up by its whole text (and the name and folder it is read with), so a
    changed text is parsed anew; one that fails to parse is not kept (its error comes again)."""

    def __init__(self, size: int = 32):
        self.size = size
        self.parsed: OrderedDict[tuple[str, str, str | None], LoadedRecipe] = OrderedDict()

    def load(self, text: str, filename: str, base_dir: Path | None = None) -> LoadedRecipe:
        from agentctl.recipe.load import load_recipe_text

        key = (text, filename, None if base_dir is None else str(base_dir))
        found = self.parsed.get(key)
        if found is None:
            found = load_recipe_text(text, filename, base_dir)
            prepare_commands(found)
            self.parsed[key] = found
            while len(self.parsed) > self.size:
                self.parsed.popitem(last=False)
        self.parsed.move_to_end(key)
        return found


def prepare_commands(loaded: LoadedRecipe) -> None:
    """What each job's child would compute the same way from the recipe alone, computed (and
    kept) here: each `run:` command compiled as a template and, when it holds no template
    markup (it then runs as written), parsed for the policy."""
    from agentctl.policy.shellwords import parse_command
    from agentctl.recipe.templates import compile_template

    for step in loaded.recipe.steps:
        if step.run is None:
            continue
        compile_template(step.run, shell=True)
        if not any(mark in step.run for mark in ("{{", "{%", "{#")):
            parse_command(step.run)


def calls_a_model(store: Store, job_id: str, recipes: RecipeMemo) -> bool:
    """Whether the job's recipe has a step that calls a model (then the worker loads litellm
    before forking it, once, and every later model job starts with it loaded)."""
    from agentctl.engine.run.state import job_recipe
    from agentctl.engine.steps import model_roles

    try:
        recipe = job_recipe(store, store.get_job(job_id), recipes.load).recipe
    except Exception:
        return False
    return bool(model_roles(recipe.steps))
