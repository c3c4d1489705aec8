"""OpenTelemetry traces of a job, built from its events, when an OTLP endpoint is configured.

With `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set and the
`otel` extra installed, each runner session of a job exports one trace over OTLP/HTTP:

    agentctl job <recipe>             agentctl.job.id, agentctl.recipe, agentctl.job.state
      step <id>                       agentctl.step.id, agentctl.step.kind, agentctl.step.state
        chat <model>                  GenAI conventions: gen_ai.operation.name=chat,
                                      gen_ai.request.model, gen_ai.response.model,
                                      gen_ai.usage.input_tokens / output_tokens,
                                      agentctl.cost_usd
        execute_tool <tool>           gen_ai.operation.name=execute_tool, gen_ai.tool.name,
                                      agentctl.tool.decision, agentctl.tool.duration_ms

Every span carries `agentctl.job.id`, and the trace id is derived from the job id, so the
sessions of a resumed job land in the same trace. Spans are made from the job's events (the
same ones the log shows, already masked; no tool arguments or outputs are exported), with the
events' times, so tracing adds nothing to the engine's path but one callback per event.

When no endpoint is set this module imports nothing from OpenTelemetry and costs nothing.
"""

from __future__ import annotations

import contextvars
import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from agentctl.policy.votes import Verdict

ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
JOB_END_EVENTS = {
    "job_succeeded": "succeeded",
    "job_failed": "failed",
    "job_cancelled": "cancelled",
    "job_interrupted": "interrupted",
    "job_paused": "awaiting_approval",
}
FLUSH_TIMEOUT_MS = 5000  # a collector that does not answer holds the end of a job this long

_providers: dict[tuple[str, str], Any] = {}
_job_trace_id: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "agentctl_job_trace_id", default=None
)


def traces_endpoint(env: Mapping[str, str]) -> str | None:
    """Where OTLP/HTTP traces go, per the OpenTelemetry environment variables; None: off."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return None
    specific = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    if specific:
        return specific
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    return base.rstrip("/") + "/v1/traces" if base else None


def trace_id_for(job_id: str) -> int:
    """The trace id of every session of a job: 128 bits of a hash of its id."""
    return int(hashlib.sha256(job_id.encode()).hexdigest()[:32], 16) or 1


def _provider(endpoint: str, service: str) -> Any:
    """One TracerProvider per endpoint and service name in a process (not the global one: a
    program embedding agentctl keeps its own)."""
    key = (endpoint, service)
    if key not in _providers:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

        class JobIds(RandomIdGenerator):
            def generate_trace_id(self) -> int:
                return _job_trace_id.get() or super().generate_trace_id()

        provider = TracerProvider(
            resource=Resource.create({"service.name": service}), id_generator=JobIds()
        )
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        _providers[key] = provider
    return _providers[key]


def _ns(ts: float) -> int:
    return int(ts * 1e9)


class JobTrace:
    """Turns one runner session's events into spans."""

    def __init__(self, provider: Any, job_id: str, recipe: str):
        from opentelemetry import trace

        self._trace = trace
        self._provider = provider
        self.tracer = provider.get_tracer("agentctl")
        self.job_id = job_id
        self.recipe = recipe
        self.job_span: Any = None
        self.steps: dict[str, Any] = {}
        self.action_starts: dict[str, float] = {}

    def chain(self, then: Callable[[Any], None] | None) -> Callable[[Any], None]:
        """An on_event callback that records the event, then calls `then`."""

        def on_event(event: Any) -> None:
            try:
                self.on_event(event)
            except Exception:  # tracing never breaks a job
                pass
            if then is not None:
                then(event)

        return on_event

    def _start(self, name: str, ts: float, parent: Any, attributes: dict[str, Any]) -> Any:
        context = self._trace.set_span_in_context(parent) if parent is not None else None
        attributes = {"agentctl.job.id": self.job_id, **attributes}
        return self.tracer.start_span(
            name, context=context, start_time=_ns(ts), attributes=attributes
        )

    def _fail(self, span: Any, description: str) -> None:
        from opentelemetry.trace import Status, StatusCode

        span.set_status(Status(StatusCode.ERROR, description[:200]))

    def _job(self, ts: float) -> Any:
        if self.job_span is None:
            token = _job_trace_id.set(trace_id_for(self.job_id))
            try:
                self.job_span = self._start(
                    f"agentctl job {self.recipe}",
                    ts,
                    None,
                    {"agentctl.recipe": self.recipe},
                )
            finally:
                _job_trace_id.reset(token)
        return self.job_span

    def _step(self, step: str | None, ts: float) -> Any:
        if step is None:
            return self._job(ts)
        span = self.steps.get(step)
        if span is None:  # a step resumed mid-way: its step_started was in an earlier session
            span = self.steps[step] = self._start(
                f"step {step}", ts, self._job(ts), {"agentctl.step.id": step}
            )
        return span

    def on_event(self, event: Any) -> None:
        kind, ts, data = event.type, event.ts, event.data or {}
        if kind == "runner_started":
            self._job(ts).set_attribute("agentctl.job.resumed", bool(data.get("resumed")))
        elif kind == "step_started":
            span = self._step(event.step, ts)
            span.set_attribute("agentctl.step.kind", str(data.get("kind", "")))
        elif kind == "step_finished" and event.step in self.steps:
            span = self.steps.pop(event.step)
            state = str(data.get("state", ""))
            span.set_attribute("agentctl.step.state", state)
            if state == "failed":
                self._fail(span, str(data.get("error") or "step failed"))
            span.end(end_time=_ns(ts))
        elif kind == "model_response":
            self._model_span(event.step, ts, data)
        elif kind == "action_started":
            self.action_starts[str(data.get("key"))] = ts
        elif kind == "action_finished":
            self._tool_span(event.step, ts, data)
        elif kind in JOB_END_EVENTS:
            self._end_job(ts, JOB_END_EVENTS[kind], data)

    def _model_span(self, step: str | None, ts: float, data: dict[str, Any]) -> None:
        reply = data.get("reply") or {}
        model = str(reply.get("model", ""))
        wall = float(data.get("wall_ms") or reply.get("latency_ms") or 0.0) / 1000
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": model,
            "gen_ai.response.model": model,
            "gen_ai.usage.input_tokens": int(reply.get("input_tokens") or 0),
            "gen_ai.usage.output_tokens": int(reply.get("output_tokens") or 0),
            "agentctl.cost_usd": float(reply.get("cost_usd") or 0.0),
            "agentctl.model.role": str(reply.get("role", "")),
            "agentctl.model.failed_attempts": len(reply.get("attempts") or []),
        }
        if "/" in model:
            attributes["gen_ai.provider.name"] = model.split("/", 1)[0]
        message = reply.get("message") or {}
        finish = "tool_calls" if message.get("tool_calls") else "stop"
        attributes["gen_ai.response.finish_reasons"] = [finish]
        span = self._start(f"chat {model}", ts - wall, self._step(step, ts), attributes)
        span.end(end_time=_ns(ts))

    def _tool_span(self, step: str | None, ts: float, data: dict[str, Any]) -> None:
        key = str(data.get("key"))
        duration_ms = float(data.get("duration_ms") or 0.0)
        start = self.action_starts.pop(key, ts - duration_ms / 1000)
        tool = str(data.get("tool", ""))
        refused = bool(data.get("refused"))
        denied = Verdict.DENY if data.get("error") == "denied" else ""
        decision = str(data.get("decision") or denied)
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": tool,
            "gen_ai.tool.call.id": key,
            "agentctl.tool.decision": decision or str(Verdict.ALLOW),
            "agentctl.tool.ok": bool(data.get("ok")),
            "agentctl.tool.refused": refused,
            "agentctl.tool.duration_ms": duration_ms,
        }
        if data.get("error"):
            attributes["error.type"] = str(data["error"])
        if data.get("exit_code") is not None:
            attributes["agentctl.tool.exit_code"] = int(data["exit_code"])
        span = self._start(f"execute_tool {tool}", start, self._step(step, ts), attributes)
        if not data.get("ok"):
            self._fail(span, str(data.get("error") or "tool failed"))
        span.end(end_time=_ns(ts))

    def _end_job(self, ts: float, state: str, data: dict[str, Any]) -> None:
        job = self._job(ts)
        for span in self.steps.values():  # a step parked for approval, or cut short
            span.end(end_time=_ns(ts))
        self.steps.clear()
        job.set_attribute("agentctl.job.state", state)
        if state == "failed":
            error = data.get("error")
            message = error.get("message") if isinstance(error, dict) else error
            self._fail(job, str(message or "job failed"))
        job.end(end_time=_ns(ts))
        self.job_span = None

    def finish(self, ts: float) -> None:
        """End what is still open (the runner stopped without an end event) and send it all."""
        try:
            for span in self.steps.values():
                span.end(end_time=_ns(ts))
            self.steps.clear()
            if self.job_span is not None:
                self.job_span.end(end_time=_ns(ts))
                self.job_span = None
            self._provider.force_flush(FLUSH_TIMEOUT_MS)
        except Exception:  # tracing never breaks a job
            pass


def start_job_trace(job_id: str, recipe: str, env: Mapping[str, str]) -> JobTrace | None:
    """A JobTrace when an OTLP endpoint is configured and the `otel` extra is installed."""
    endpoint = traces_endpoint(env)
    if endpoint is None:
        return None
    try:
        provider = _provider(endpoint, env.get("OTEL_SERVICE_NAME") or "agentctl")
        return JobTrace(provider, job_id, recipe)
    except ImportError:  # the extra is not installed: run without traces
        return None
