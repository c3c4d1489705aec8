"""Run agentctl's CLI, SIGKILLing this very process at a named point of the event log.

`AGENTCTL_CRASH_AT=WHEN:TYPE:N` (WHEN is `before` or `after`): the Nth append that holds an
event of TYPE kills the process just before it is written, or just after it is committed.
The kill is a real SIGKILL, so nothing in agentctl gets to clean up; this stands in for a
power cut or an OOM kill at that exact point. Used by tests/test_crash.py only.
"""

from __future__ import annotations

import os
import signal
import sys

from agentctl.store.postgres import PostgresStore
from agentctl.store.sqlite import SQLiteStore

when, event_type, nth = os.environ["AGENTCTL_CRASH_AT"].split(":")
seen = 0


def crash_around(events, write):
    global seen
    hit = any(event.type == event_type for event in events)
    if hit:
        seen += 1
    if hit and seen == int(nth) and when == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    written = write()
    if hit and seen == int(nth) and when == "after":
        os.kill(os.getpid(), signal.SIGKILL)
    return written


def patch(backend) -> None:
    """Wrap the backend's append and create_job with the crash point."""
    original_append, original_create_job = backend.append_events, backend.create_job

    def append(self, job_id, events, **kwargs):
        return crash_around(events, lambda: original_append(self, job_id, events, **kwargs))

    def create_job(self, **kwargs):
        return crash_around([kwargs["event"]], lambda: original_create_job(self, **kwargs))

    backend.append_events = append
    backend.create_job = create_job


patch(SQLiteStore)
patch(PostgresStore)

if __name__ == "__main__":
    from agentctl.cli import app

    sys.argv[0] = "agentctl"
    app()
