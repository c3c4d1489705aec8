"""SQLite state: the only package that speaks SQL."""

from agentctl.store.store import Event, JobUpdate, NewEvent, Store, lease_is_live

__all__ = ["Event", "JobUpdate", "NewEvent", "Store", "lease_is_live"]
