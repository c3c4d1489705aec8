"""One model call under the job's bounds (agentctl.models.bounds), in this process: a cancel,
the job's deadline and a role's timeout end a request that stalls or never answers, whatever
litellm's own retries say. Wall times are bounded loosely, never tightly."""

from __future__ import annotations

import threading
import time

import pytest
from fakeserver import ScriptedOpenAIServer

from agentctl.models.bounds import CallBounds, CallCancelled, DeadlineReached, run_bounded
from agentctl.models.calls import ModelError, build_model_client

pytestmark = [
    pytest.mark.slow,  # litellm's import, and requests left to time out
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Item .* on TypedDict class:UserWarning"),
]

MSGS = [{"role": "user", "content": "hello"}]


def client_for(server: ScriptedOpenAIServer, **role):
    roles = {"default": {"model": "openai/fake-model", "api_base": server.base_url, **role}}
    client = build_model_client(roles, retry_delays=(0.0, 0.0))
    client.complete("default", MSGS, [], call_index=0)  # litellm loaded and warm
    return client


def test_run_bounded_hands_back_text_result_and_errors_in_the_calling_thread():
    seen: list[tuple[str, bool]] = []
    main = threading.current_thread()

    def work(emit):
        emit("a")
        emit("b")
        return 42

    got = run_bounded(
        work,
        until=time.monotonic() + 30,
        cancel=None,
        on_text=lambda t: seen.append((t, threading.current_thread() is main)),
    )
    assert got == 42 and seen == [("a", True), ("b", True)]

    def fail(emit):
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        run_bounded(fail, until=time.monotonic() + 30, cancel=None, on_text=None)


def test_a_cancel_abandons_a_reply_that_never_comes():
    with ScriptedOpenAIServer([{"content": "warm"}], exhausted={"hang": True}) as server:
        client = client_for(server)
        cancel = threading.Event()
        threading.Timer(0.5, cancel.set).start()
        started = time.monotonic()
        with pytest.raises(CallCancelled):
            client.complete("default", MSGS, [], call_index=1, bounds=CallBounds(cancel=cancel))
        assert time.monotonic() - started < 5


def test_the_job_deadline_ends_a_stalled_stream_and_litellm_retries_do_not_stretch_it():
    stalled = {"stall": True, "content": "a reply that starts and never ends"}
    with ScriptedOpenAIServer([{"content": "warm"}], exhausted=stalled) as server:
        client = client_for(server, options={"num_retries": 3})
        client.stream = "always"  # the warm-up was quick: auto would not stream
        shown: list[str] = []
        started = time.monotonic()
        with pytest.raises(DeadlineReached):
            client.complete(
                "default",
                MSGS,
                [],
                call_index=1,
                on_text=shown.append,
                bounds=CallBounds(deadline=time.monotonic() + 3.0),
            )
        assert time.monotonic() - started < 10
        assert "".join(shown).startswith("a rep")  # the part that came was shown


def test_a_role_timeout_ends_each_try_and_the_last_error_says_so():
    with ScriptedOpenAIServer([{"content": "warm"}], exhausted={"hang": True}) as server:
        client = client_for(server, timeout=0.5, options={"num_retries": 3})
        started = time.monotonic()
        with pytest.raises(ModelError) as caught:
            client.complete("default", MSGS, [], call_index=1)
        assert time.monotonic() - started < 10  # 3 tries of 0.5 s, not 3 x 4 litellm tries
    assert "timeout x3" in caught.value.message
    assert "role's timeout (0.5s)" in caught.value.message
