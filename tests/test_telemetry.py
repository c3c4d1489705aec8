"""OpenTelemetry traces: a real OTLP/HTTP receiver on 127.0.0.1 decodes what a job exports."""

from __future__ import annotations

import gzip
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fakeserver import ScriptedOpenAIServer
from scripted import ScriptedModel, tool_call

from agentctl.engine.jobs import create_job
from agentctl.engine.policy_files import load_policy_snapshots
from agentctl.engine.run import RunnerDeps, run_job
from agentctl.models.calls import build_model_client
from agentctl.recipe.load import load_recipe_text
from agentctl.recipe.params import parse_params
from agentctl.store.sqlite import SQLiteStore

pytest.importorskip("opentelemetry.sdk")
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

ROOT = Path(__file__).resolve().parent.parent

RECIPE = """
version: 1
name: traced
models:
  default: {{model: openai/fake-model, api_base: "{base}", api_key_env: FAKE_KEY}}
steps:
  - id: look
    agent:
      instructions: Read the file, then try to delete it.
      tools: [read_file, shell]
"""
POLICY_DENY_RM = """
version: 1
name: no-rm
default: allow
rules:
  - id: no-rm
    tools: [shell]
    commands: ["rm *"]
    decision: deny
"""


class OTLPReceiver:
    """A collector's OTLP/HTTP traces endpoint: decodes each export into spans."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.paths: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                receiver.take(self.path, request)
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def take(self, path: str, request: Any) -> None:
        self.paths.append(path)
        for resource_spans in request.resource_spans:
            service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}.get(
                "service.name"
            )
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    self.spans.append(
                        {
                            "name": span.name,
                            "service": service,
                            "trace_id": span.trace_id.hex(),
                            "span_id": span.span_id.hex(),
                            "parent": span.parent_span_id.hex(),
                            "start": span.start_time_unix_nano,
                            "end": span.end_time_unix_nano,
                            "status": span.status.code,
                            "attributes": {a.key: _value(a.value) for a in span.attributes},
                        }
                    )

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    return getattr(v, kind)


@pytest.fixture
def receiver():
    r = OTLPReceiver()
    yield r
    r.close()


def _job(store: SQLiteStore, workspace: Path, text: str, policy: Path | None = None) -> str:
    loaded = load_recipe_text(text, "recipe.yaml", base_dir=workspace)
    options = {"policies": load_policy_snapshots(loaded, [str(policy)])} if policy else {}
    return create_job(
        store, loaded, params=parse_params(loaded.recipe, []), workspace=workspace, options=options
    )


def test_a_job_exports_a_trace_of_its_steps_model_calls_and_tool_calls(
    tmp_path, workspace, receiver, monkeypatch
):
    monkeypatch.setenv("FAKE_KEY", "sk-fake-otel")
    (workspace / "notes.txt").write_text("hello\n")
    script = [
        {"tool_calls": [{"name": "read_file", "arguments": {"path": "notes.txt"}}]},
        {"tool_calls": [{"name": "shell", "arguments": {"command": "rm notes.txt"}}]},
        {"content": "I may not delete it.", "usage": {"prompt_tokens": 70, "completion_tokens": 9}},
    ]
    store = SQLiteStore(tmp_path / "db.sqlite")
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY_DENY_RM)
    env = {"PATH": "/usr/bin:/bin", "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}
    with ScriptedOpenAIServer(script) as server:
        job_id = _job(store, workspace, RECIPE.format(base=server.base_url), policy)
        outcome = run_job(
            job_id,
            RunnerDeps(
                store=store,
                model_factory=lambda recipe, options: build_model_client(
                    recipe.models, retry_delays=()
                ),
                env=env,
            ),
        )
    assert outcome.state == "succeeded"
    # The runner flushed before returning: everything is already at the receiver.
    assert receiver.paths and set(receiver.paths) == {"/v1/traces"}
    spans = receiver.spans
    by_name: dict[str, list[dict]] = {}
    for span in spans:
        by_name.setdefault(span["name"], []).append(span)
    (job,) = by_name["agentctl job traced"]
    (step,) = by_name["step look"]
    chats = by_name["chat openai/fake-model"]
    (read,) = by_name["execute_tool read_file"]
    (shell,) = by_name["execute_tool shell"]
    assert len(spans) == 1 + 1 + 3 + 2
    # One trace, linked by the job id; the tree is job > step > calls.
    assert {s["trace_id"] for s in spans} == {job["trace_id"]}
    assert all(s["attributes"]["agentctl.job.id"] == job_id for s in spans)
    assert all(s["service"] == "agentctl" for s in spans)
    assert job["parent"] == "" and step["parent"] == job["span_id"]
    assert {s["parent"] for s in chats + [read, shell]} == {step["span_id"]}
    assert job["attributes"]["agentctl.job.state"] == "succeeded"
    assert step["attributes"]["agentctl.step.state"] == "succeeded"
    # GenAI semantic conventions on the model calls, with the tokens the server reported.
    last = max(chats, key=lambda s: s["start"])
    assert last["attributes"]["gen_ai.operation.name"] == "chat"
    assert last["attributes"]["gen_ai.request.model"] == "openai/fake-model"
    assert last["attributes"]["gen_ai.usage.input_tokens"] == 70
    assert last["attributes"]["gen_ai.usage.output_tokens"] == 9
    assert "agentctl.cost_usd" in last["attributes"]
    # Tool calls say what the policy decided and how long they took.
    assert read["attributes"]["agentctl.tool.decision"] == "allow"
    assert read["attributes"]["agentctl.tool.ok"] is True
    assert shell["attributes"]["agentctl.tool.decision"] == "deny"
    assert shell["attributes"]["agentctl.tool.ok"] is False
    assert shell["status"] == 2  # STATUS_CODE_ERROR
    assert "agentctl.tool.duration_ms" in read["attributes"]
    # Times nest: each call inside its step, the step inside the job.
    for child in chats + [read, shell]:
        assert step["start"] <= child["start"] <= child["end"] <= step["end"]
    assert job["start"] <= step["start"] and step["end"] <= job["end"]


def test_a_resumed_job_continues_the_same_trace(tmp_path, workspace, receiver):
    store = SQLiteStore(tmp_path / "db.sqlite")
    text = (
        "version: 1\nname: parked\nsteps:\n"
        "  - id: work\n    agent:\n      instructions: Read.\n      tools: [read_file]\n"
        "  - id: ask\n    approval: Go on?\n"
    )
    (workspace / "a.txt").write_text("a")
    job_id = _job(store, workspace, text)
    env = {"PATH": "/usr/bin:/bin", "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}
    model = ScriptedModel([[tool_call("read_file", path="a.txt")], "done"])
    deps = RunnerDeps(store=store, model_factory=lambda r, o: model, env=env)
    assert run_job(job_id, deps).state == "awaiting_approval"
    from agentctl.engine.approvals import decide_approval

    decide_approval(store, job_id, None, "approve", by="test", comment=None, now=time.time())
    assert run_job(job_id, deps).state == "succeeded"
    jobs = [s for s in receiver.spans if s["name"] == "agentctl job parked"]
    assert [j["attributes"]["agentctl.job.state"] for j in jobs] == [
        "awaiting_approval",
        "succeeded",
    ]
    assert len({s["trace_id"] for s in receiver.spans}) == 1
    assert jobs[1]["attributes"]["agentctl.job.resumed"] is True


def test_without_an_endpoint_opentelemetry_is_not_even_imported(tmp_path):
    code = (
        "import sys\n"
        "sys.path.insert(0, 'tests')\n"
        "from pathlib import Path\n"
        "from scripted import ScriptedModel\n"
        "from agentctl.engine.jobs import create_job\n"
        "from agentctl.engine.run import RunnerDeps, run_job\n"
        "from agentctl.recipe.load import load_recipe_text\n"
        "from agentctl.recipe.params import parse_params\n"
        "from agentctl.store.sqlite import SQLiteStore\n"
        "ws = Path(sys.argv[1]); ws.mkdir()\n"
        "store = SQLiteStore(ws.parent / 'db.sqlite')\n"
        "text = 'version: 1\\nname: q\\nsteps:\\n  - id: a\\n    agent:\\n"
        "      instructions: hi\\n      tools: []\\n'\n"
        "loaded = load_recipe_text(text, 'r.yaml', base_dir=ws)\n"
        "job = create_job(store, loaded, params=parse_params(loaded.recipe, []), workspace=ws,"
        " options={})\n"
        "deps = RunnerDeps(store=store, model_factory=lambda r, o: ScriptedModel(['ok']),"
        " env={'PATH': '/usr/bin:/bin'})\n"
        "print(run_job(job, deps).state, any(m.startswith('opentelemetry') for m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "ws")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["succeeded", "False"]
