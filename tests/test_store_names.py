"""Names that are not UTF-8 (a file `caf\\xe9.txt` on Linux reaches Python as `caf\\udce9.txt`,
by surrogateescape) go into the store and come back unchanged, on every backend: in event
data, in long strings kept as blobs, and in an approval's arguments."""

from __future__ import annotations

import os

import pytest
from test_store import NOW, make

from agentctl.store import NewApproval, NewEvent, Store, open_store
from agentctl.store.codec import dumps

NAME = os.fsdecode(b"caf\xe9.txt")  # 'caf\udce9.txt'


@pytest.fixture
def store(db_target) -> Store:
    opened = open_store(db_target)
    yield opened
    opened.close()


def test_a_name_that_is_not_utf8_is_stored_and_read_back_as_it_was(store):
    make(store, "j")
    long_output = (NAME + "\n") * 200  # past the blob threshold: kept as a blob
    store.append_events(
        "j",
        [
            NewEvent("action_finished", "s", {"output": NAME, "changes": [{"path": NAME}]}),
            NewEvent("action_finished", "s", {"output": long_output}),
            # The journal hands the store its own serialisation (`encoded`), as redact makes it.
            NewEvent("action_finished", "s", {"path": NAME}, encoded=f'{{"path":"{NAME}"}}'),
        ],
        now=NOW,
        approvals=[
            NewApproval(
                request="r1",
                step="s",
                key="s/t0/c0",
                tool="write_file",
                args={"path": NAME},
                action_hash="h",
                rules=[],
                reason="",
                now=NOW,
            )
        ],
    )
    events = store.reopen().read_events("j")
    assert events[1].data == {"output": NAME, "changes": [{"path": NAME}]}
    assert events[2].data["output"] == long_output
    assert events[3].data == {"path": NAME}
    assert store.list_approvals("j")[0]["args"] == {"path": NAME}
    assert os.fsencode(events[3].data["path"]) == b"caf\xe9.txt"


def test_text_that_is_utf8_keeps_its_compact_form():
    assert dumps({"name": "café"}) == '{"name":"café"}'
    assert dumps({"name": NAME}) == '{"name":"caf\\udce9.txt"}'
