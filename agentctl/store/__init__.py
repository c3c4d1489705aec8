"""Job state: the store interface and its backends. The only package that speaks SQL."""

from __future__ import annotations

from pathlib import Path

from agentctl.store.base import (
    ApprovalChange,
    ApprovalConflict,
    ApprovalTransition,
    Claim,
    Event,
    JobRecord,
    JobUpdate,
    LeaseBeat,
    NewApproval,
    NewEvent,
    QueueLimit,
    Schedule,
    Store,
    StoreError,
    StoreUnavailable,
    lease_is_live,
    workspace_busy,
)

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(target: str | Path) -> bool:
    return isinstance(target, str) and target.startswith(POSTGRES_SCHEMES)


def open_store(target: str | Path) -> Store:
    """The store at `target`: a `postgresql://` URL, else the path of a SQLite file."""
    if is_postgres_url(target):
        from agentctl.store.postgres import PostgresStore  # psycopg only for a URL

        return PostgresStore(str(target))
    from agentctl.store.sqlite import SQLiteStore

    return SQLiteStore(Path(target))


__all__ = [
    "ApprovalChange",
    "ApprovalConflict",
    "ApprovalTransition",
    "Claim",
    "Event",
    "JobRecord",
    "JobUpdate",
    "LeaseBeat",
    "NewApproval",
    "NewEvent",
    "QueueLimit",
    "Schedule",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "is_postgres_url",
    "lease_is_live",
    "open_store",
    "workspace_busy",
]
