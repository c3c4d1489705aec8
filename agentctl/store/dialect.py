"""What a SQL backend supplies to `SqlStore` (store/sqlstore.py): the few things SQLite and
PostgreSQL do differently. The store's semantics are written once over these.

SQL reaches a dialect with `?` placeholders; a dialect whose driver wants another style
translates. A dialect answers for: transactions (and their durability), retrying a lost
connection and asking whether an uncertain commit landed, notifications and waiting for
them, row locks, its migrations, and where its state lives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
Row = tuple[Any, ...]


class Tx(Protocol):
    """Statements inside one transaction (or, for a read, on one connection)."""

    def one(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        """The first row of a statement (the rest are read and dropped)."""
        ...

    def all(self, sql: str, args: Sequence[Any] = ()) -> list[Row]: ...

    def run(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run a statement; how many rows it changed."""
        ...

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    def notify(self, channel: str, payload: str) -> None:
        """Tell listeners of `channel` at commit (a dialect without listeners does nothing)."""
        ...

    def lock_workspace(self, workspace: str) -> None:
        """Order concurrent takers of one workspace until the transaction ends (a dialect
        whose write transactions already run one at a time does nothing)."""
        ...

    def lock_queue(self, queue: str) -> None:
        """Order concurrent claimers of one limited queue until the transaction ends (as
        `lock_workspace`)."""
        ...


# After a commit that got no answer: whether it took effect.
Landed = Callable[[Tx], bool]


class Dialect(Protocol):
    """One database of one kind, behind the connection(s) a store handle holds."""

    # Appended to the SELECT of a row the transaction then updates, and of a claim's
    # candidate (which concurrent claimers pass over): row locks where a backend has them.
    for_update: str
    skip_locked: str
    # The column giving insertion order (SQLite's rowid), the tie-break of `last`.
    insert_order: str

    @property
    def location(self) -> str: ...

    @property
    def target(self) -> str: ...

    @property
    def db_file(self) -> Path | None: ...

    @property
    def logs_dir(self) -> Path: ...

    def transact(
        self,
        body: Callable[[Tx], T],
        *,
        write: bool = False,
        durable: bool = False,
        landed: Landed | None = None,
    ) -> T:
        """Run `body` in one transaction (`write`), or as reads on the connection.

        `durable`: the commit is on disk before this returns. `landed`: asked after a commit
        that got no answer; without it such a write raises StoreUnavailable.
        """
        ...

    def events_index(self, sql: str) -> str:
        """`read_events`' SELECT by type, told to use the `events_type` index if needed."""
        ...

    def wait_for_events(
        self,
        job_id: str,
        after_seq: int,
        timeout: float,
        last_seq: Callable[[float | None], int],
    ) -> None:
        """Return when the job's last seq may have passed `after_seq`, or after `timeout` s.
        `last_seq(until)` reads it; given a time, it first marks the job watched until then
        (in the same statement), so its appends notify (a dialect that notifies asks so)."""
        ...

    def wait_for_work(
        self, queues: Sequence[str], timeout: float, claimable: Callable[[], bool]
    ) -> bool:
        """Return True as soon as `claimable()` (a read: whether a claim in `queues` would take
        a job) says so, looking at once and whenever a job may have been queued since; False
        after `timeout` s."""
        ...

    def reopen(self, *, retry_for: float | None = None) -> Dialect: ...

    def compact(self) -> None: ...

    def close(self) -> None: ...
