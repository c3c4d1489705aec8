"""`agentctl run RECIPE --queue Q` without the command line's machinery.

A service that queues jobs through the command pays Python's start-up and whatever it imports:
the typer app with click and rich, the recipe's pydantic models and jinja2 cost ~0.5 s of CPU
before a job is recorded. `agentctl.__main__` asks this package first: an argv of the
queue-only shape (`argv.py`) is recorded here, from a cache of recipes already validated
(`cache.py`; a miss validates with the engine's own checks, `validate.py`), through the same
store calls the `run` command makes (`enqueue.py`). Anything else, any input that would fail,
and any doubt go to the typer app unchanged, which says it in its own words.
"""
