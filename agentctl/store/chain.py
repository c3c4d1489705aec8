"""The hash chain of a job's events, the same on every backend: how an event's hash is made
when it is appended, and how `agentctl log JOB --verify` checks a job's log.

An event's hash is sha256 over the hash of the event before it in the same job and the
event's canonical JSON (job, seq, ts, type, step and its data exactly as stored), so editing,
removing or reordering one event breaks every hash after it. Long strings live in `blobs` by
content hash; verifying re-hashes each blob an event names, so a changed blob is a changed
event. Events written before the chain existed have no hash: reported as unchained, not as
tampered (a missing hash after the chain began is tampering).

What the chain cannot do: someone who can write the database can recompute every hash after
an edit, or cut the log's end and the job's count together. The head hash that `--verify`
prints, kept somewhere else (a CI log, a ticket), is what pins a log against that.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agentctl.store.codec import BLOB_KEY, blob_digest, blob_refs

# How many jobs' chain heads a store remembers (a worker runs many jobs one after another).
HEADS_KEPT = 256


def event_hash(
    prev: str | None,
    job_id: str,
    seq: int,
    ts: float,
    type_: str,
    step: str | None,
    data: str,
) -> str:
    """The hash of one event, chained to `prev` (None for the first event of a chain)."""
    canonical = json.dumps(
        {"job": job_id, "seq": seq, "ts": float(ts), "type": type_, "step": step, "data": data},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,  # whatever the data holds (escaped file names too) hashes the same
    )
    return hashlib.sha256(f"{prev or ''}\n{canonical}".encode("ascii")).hexdigest()


class ChainHeads:
    """The last hash this store handle wrote for each job, so an append chains to it without
    reading it back; any other seq (another process appended meanwhile) is read."""

    def __init__(self) -> None:
        self._heads: dict[str, tuple[int, str | None]] = {}

    def prev(self, job_id: str, seq: int, read: Callable[[], str | None]) -> str | None:
        """The hash of event `seq` of the job (what the next event chains to)."""
        known = self._heads.get(job_id)
        if known is not None and known[0] == seq:
            return known[1]
        return read() if seq > 0 else None

    def wrote(self, job_id: str, seq: int, head: str | None) -> None:
        """Call once the append that wrote event `seq` with hash `head` has committed."""
        if len(self._heads) >= HEADS_KEPT and job_id not in self._heads:
            self._heads.clear()
        self._heads[job_id] = (seq, head)


@dataclass(frozen=True)
class StoredEvent:
    """An event as the database holds it: its data as stored text, and its hash."""

    seq: int
    ts: float
    type: str
    step: str | None
    data: str
    hash: str | None


@dataclass
class ChainReport:
    job_id: str
    events: int  # how many events the job's log holds
    unchained: int  # written before the chain existed
    head: str | None  # the last event's hash: keep it elsewhere to pin this log
    problem: dict[str, Any] | None = None  # the first event changed, removed or added

    @property
    def intact(self) -> bool:
        return self.problem is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job_id,
            "intact": self.intact,
            "events": self.events,
            "unchained": self.unchained,
            "head": self.head,
            "problem": self.problem,
        }


def verify_chain(
    job_id: str,
    events: Sequence[StoredEvent],
    last_seq: int,
    get_blob: Callable[[str], bytes],
) -> ChainReport:
    """Check a job's stored events against their hashes and the job's own count of them
    (`last_seq`); the report names the first event that was changed, removed or added."""
    report = ChainReport(job_id, len(events), 0, None)
    prev: str | None = None
    chained = False
    expected = 1
    for event in events:
        if event.seq != expected:
            gone = f"{expected}" if event.seq == expected + 1 else f"{expected}-{event.seq - 1}"
            return _problem(report, expected, None, "removed", f"event {gone} is missing")
        if event.seq > last_seq:
            why = f"the job counts {last_seq} events, and this one is past them"
            return _problem(report, event.seq, event.type, "added", why)
        if event.hash is None:
            if chained:
                why = "it has no hash though the events before it do"
                return _problem(report, event.seq, event.type, "changed", why)
            report.unchained += 1
        elif event.hash != event_hash(
            prev, job_id, event.seq, event.ts, event.type, event.step, event.data
        ):
            return _problem(report, event.seq, event.type, "changed", "its hash does not match")
        elif not _blobs_intact(event.data, get_blob):
            why = "a long text it holds (a stored blob) was changed or removed"
            return _problem(report, event.seq, event.type, "changed", why)
        else:
            chained = True
        prev = event.hash
        report.head = event.hash
        expected += 1
    if expected <= last_seq:
        gone = f"{expected}" if expected == last_seq else f"{expected}-{last_seq}"
        why = f"event {gone} is missing (the job counts {last_seq})"
        return _problem(report, expected, None, "removed", why)
    return report


def _problem(
    report: ChainReport, seq: int, type_: str | None, what: str, detail: str
) -> ChainReport:
    report.problem = {"seq": seq, "type": type_, "what": what, "detail": detail}
    return report


def _blobs_intact(data: str, get_blob: Callable[[str], bytes]) -> bool:
    if BLOB_KEY not in data:
        return True
    for digest in blob_refs(json.loads(data)):
        try:
            if blob_digest(get_blob(digest)) != digest:
                return False
        except KeyError:
            return False
    return True
