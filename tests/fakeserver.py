"""A scripted OpenAI-compatible chat server on 127.0.0.1, for end-to-end tests.

It lets tests drive litellm's real HTTP path (request building, SSE parsing, error mapping)
without a provider. Each POST to /v1/chat/completions (or /chat/completions) takes the next
item of the script:

    {"content": "hi", "tool_calls": [{"name": "shell", "arguments": {"cmd": "ls"}}]}
        an assistant reply; tool call ids are generated as call_1, call_2, ... unless an item
        gives "id"; "arguments" may be a dict (JSON-encoded here) or a ready JSON string;
        optional "usage": {"prompt_tokens": N, "completion_tokens": M} overrides the estimate;
        completion_tokens never pass the request's max_tokens (a provider cuts the reply).
    {"status": 500, "body": {...}}   an error; body defaults to an OpenAI-style error object.
    {"status": 429} / {"status": 401} ...
    {"delay": 1.5, ...}              sleep first, then answer the rest of the item (a bare
                                     {"delay": s} answers with an empty-content reply).
    {"hang": true}                   never answer: hold the connection until the server stops.
    {"stall": true, "content": "x"}  a streamed reply sends its first chunks, then holds the
                                     connection without finishing (a whole reply: as "hang").

When the script runs out the server answers with `exhausted`, by default a plain "done" reply
(`{"content": "done"}`), so an agent loop ends rather than crashing; pass
`exhausted={"status": 500}` to make over-asking fail loudly instead.

Requests with "stream": true get proper SSE chunks: a role chunk, content pieces, tool-call
deltas (id/name first, then argument fragments), a finish chunk, a usage chunk when
stream_options.include_usage is set, then `data: [DONE]`.

`.requests` keeps every request as {"method", "path", "headers", "body"} so tests can check the
Authorization header carried the key. GET /v1/models lists the fake model.

As a script: `python tests/fakeserver.py --script FILE.json --port N` prints the base url and
serves until killed. FILE.json is a list of items or {"script": [...], "exhausted": {...}}.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_EXHAUSTED: dict[str, Any] = {"content": "done"}


def _tokens(text: str) -> int:
    # Rough but plausible: ~4 characters a token, at least 1.
    return max(1, len(text) // 4)


class ScriptedOpenAIServer:
    def __init__(
        self,
        script: list[dict[str, Any]] | None = None,
        *,
        port: int = 0,
        exhausted: dict[str, Any] | None = None,
        model: str = "fake-model",
        by_turn: bool = False,
    ):
        self.script = list(script or [])
        # by_turn: answer item K to a request holding K assistant messages, so a client that
        # crashed and asks the same turn again gets the same answer (crash tests).
        self.by_turn = by_turn
        self.exhausted = dict(exhausted or DEFAULT_EXHAUSTED)
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._next_call_id = 0
        self._port = port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()  # a hanging or stalled answer waits for this

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> ScriptedOpenAIServer:
        handler = type("Handler", (_Handler,), {"server_obj": self})
        self._httpd = _QuietServer(("127.0.0.1", self._port), handler)
        self._httpd.daemon_threads = True
        self._port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> ScriptedOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/v1"

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == "POST"]

    # -- scripting ------------------------------------------------------------------------
    def add(self, *items: dict[str, Any]) -> None:
        with self._lock:
            self.script.extend(items)

    def _take(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            if self.by_turn:
                turn = sum(1 for m in body.get("messages", []) if m.get("role") == "assistant")
                return dict(self.script[turn]) if turn < len(self.script) else dict(self.exhausted)
            return self.script.pop(0) if self.script else dict(self.exhausted)

    def _call_id(self) -> str:
        with self._lock:
            self._next_call_id += 1
            return f"call_{self._next_call_id}"

    def build_reply(self, item: dict[str, Any], body: dict[str, Any]) -> tuple[dict, dict]:
        """The assistant message and usage for a reply item."""
        tool_calls = []
        for tc in item.get("tool_calls") or []:
            args = tc.get("arguments", {})
            tool_calls.append(
                {
                    "id": tc.get("id") or self._call_id(),
                    "type": "function",
                    "function": {
                        "name": tc["name"],
                        "arguments": args if isinstance(args, str) else json.dumps(args),
                    },
                }
            )
        content = item.get("content", None if tool_calls else "")
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if tool_calls:
            message["tool_calls"] = tool_calls
        prompt = json.dumps(body.get("messages", [])) + json.dumps(body.get("tools") or [])
        completion = (content or "") + "".join(t["function"]["arguments"] for t in tool_calls)
        usage = {"prompt_tokens": _tokens(prompt), "completion_tokens": _tokens(completion)}
        usage.update(item.get("usage") or {})
        limit = body.get("max_tokens") or body.get("max_completion_tokens")
        if isinstance(limit, int) and usage["completion_tokens"] > limit:
            usage["completion_tokens"] = limit  # a provider cuts the reply at max_tokens
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return message, usage


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and hung up (tests do this on purpose) is not an error here.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server_obj: ScriptedOpenAIServer
    protocol_version = "HTTP/1.0"  # one response per connection: simple, and SSE ends on close

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _record(self, body: Any) -> None:
        self.server_obj.requests.append(
            {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body,
            }
        )

    def _send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._record(None)
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            self._send_json(
                200,
                {
                    "object": "list",
                    "data": [
                        {
                            "id": self.server_obj.model,
                            "object": "model",
                            "created": 0,
                            "owned_by": "fake",
                        }
                    ],
                },
            )
        else:
            self._send_json(
                404, {"error": {"message": f"no route {self.path}", "type": "not_found"}}
            )

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {"_raw": raw.decode("utf-8", "replace")}
        self._record(body)
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._send_json(
                404, {"error": {"message": f"no route {self.path}", "type": "not_found"}}
            )
            return
        srv = self.server_obj
        item = srv._take(body)
        if item.get("delay"):
            time.sleep(float(item["delay"]))
        if item.get("hang") or (item.get("stall") and not body.get("stream")):
            srv.stopping.wait()
            return
        if "status" in item and int(item["status"]) >= 400:
            status = int(item["status"])
            payload = item.get("body") or {
                "error": {
                    "message": f"scripted error {status}",
                    "type": "server_error" if status >= 500 else "invalid_request_error",
                    "code": str(status),
                }
            }
            self._send_json(status, payload)
            return
        message, usage = srv.build_reply(item, body)
        model = item.get("model") or body.get("model") or srv.model
        finish = "tool_calls" if message.get("tool_calls") else "stop"
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self._send_stream(model, message, usage, finish, include_usage, bool(item.get("stall")))
            return
        self._send_json(
            200,
            {
                "id": f"chatcmpl-{len(srv.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": usage,
            },
        )

    def _send_stream(
        self,
        model: str,
        message: dict,
        usage: dict,
        finish: str,
        include_usage: bool,
        stall: bool = False,
    ) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        base = {
            "id": "chatcmpl-stream",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }

        def emit(delta: dict | None, finish_reason: str | None = None, **extra: Any) -> None:
            chunk = dict(base, **extra)
            if delta is not None:
                chunk["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
            self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            self.wfile.flush()

        emit({"role": "assistant", "content": ""})
        content = message.get("content") or ""
        for i in range(0, len(content), 5):  # several pieces, so on_text sees real deltas
            emit({"content": content[i : i + 5]})
        if stall:
            self.server_obj.stopping.wait()
            return
        for idx, tc in enumerate(message.get("tool_calls") or []):
            emit(
                {
                    "tool_calls": [
                        {
                            "index": idx,
                            "id": tc["id"],
                            "type": "function",
                            "function": {"name": tc["function"]["name"], "arguments": ""},
                        }
                    ]
                }
            )
            args = tc["function"]["arguments"]
            for i in range(0, len(args), 7):
                emit({"tool_calls": [{"index": idx, "function": {"arguments": args[i : i + 7]}}]})
        emit({}, finish)
        if include_usage:
            emit(None, choices=[], usage=usage)
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--script", help="JSON file: a list of items, or {script, exhausted}")
    ap.add_argument(
        "--by-turn",
        action="store_true",
        help="answer by the number of assistant messages in the request",
    )
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args(argv)
    script: Any = []
    exhausted = None
    if args.script:
        with open(args.script, encoding="utf-8") as f:
            script = json.load(f)
        if isinstance(script, dict):
            exhausted = script.get("exhausted")
            script = script.get("script", [])
    server = ScriptedOpenAIServer(
        script, port=args.port, exhausted=exhausted, by_turn=args.by_turn
    ).start()
    print(server.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
