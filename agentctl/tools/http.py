"""The http_get tool: fetch an http(s) URL and return its status line and body text, capped.

Only http and https are fetched, also after redirects. The host policy comes from the engine
as `ctx.url_checker`, a callable `(url) -> refusal reason or None` (see
`agentctl.policy.urls.make_url_checker`); it is asked before the first request and again before
every redirect hop, so an allowed host cannot bounce the fetch to a private address. Without
a checker any host the machine can reach is fetched.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from http.client import HTTPMessage, HTTPResponse
from typing import IO, Any

from agentctl.process.run import CappedBuffer
from agentctl.tools.base import ToolContext, ToolResult, ToolSpec, Touches
from agentctl.tools.function import (
    FunctionTool,
    build_object_schema,
    describe_param,
    fail,
)

ALLOWED_SCHEMES = ("http", "https")
MAX_HTTP_TIMEOUT_S = 30.0
# Stop downloading after this much; the model sees only the capped head and tail anyway.
MAX_BODY_BYTES = 16 * 1024 * 1024
READ_CHUNK = 64 * 1024
USER_AGENT = "agentctl-http_get/0.1"


UrlChecker = Callable[[str], "str | None"]


class _Refused(urllib.error.URLError):
    """The URL checker refused a redirect hop."""


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but never to a scheme other than http(s) (urllib allows ftp), and
    only where the URL checker agrees."""

    def __init__(self, checker: UrlChecker | None = None):
        super().__init__()
        self.checker = checker

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        scheme = urllib.parse.urlsplit(newurl).scheme.lower()
        if scheme not in ALLOWED_SCHEMES:
            raise urllib.error.URLError(
                f"refused redirect to a {scheme or 'relative'} URL: {newurl}"
            )
        reason = self.checker(newurl) if self.checker is not None else None
        if reason:
            raise _Refused(f"refused redirect to {newurl}: {reason}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _read_body(
    response: HTTPResponse | urllib.error.HTTPError, ctx: ToolContext
) -> tuple[str, bool, str]:
    """Return (text, truncated, note) of a response body read in bounded chunks."""
    buffer = CappedBuffer(ctx.output_cap)
    note = ""
    while chunk := response.read(READ_CHUNK):
        buffer.add(chunk)
        if ctx.cancel.is_set():
            note = "[cancelled while reading the body]"
            break
        if buffer.total >= MAX_BODY_BYTES:
            note = f"[stopped reading after {MAX_BODY_BYTES} bytes]"
            break
    if b"\0" in bytes(buffer.head[:8192]):
        return f"(binary body, {buffer.total} bytes read; not shown)", False, note
    charset = response.headers.get_content_charset() or "utf-8"
    try:
        text, truncated = buffer.text(encoding=charset)
    except LookupError:  # a charset Python does not know
        text, truncated = buffer.text()
    return text, truncated or bool(note), note


def _format_response(
    response: HTTPResponse | urllib.error.HTTPError,
    status: int,
    reason: str,
    ctx: ToolContext,
    url: str,
) -> tuple[str, bool]:
    lines = [f"HTTP {status} {reason}".rstrip()]
    final_url = response.geturl()
    if final_url and final_url != url:
        lines.append(f"URL: {final_url}")
    content_type = response.headers.get("Content-Type")
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    body, truncated, note = _read_body(response, ctx)
    text = "\n".join(lines) + "\n\n" + body
    if note:
        text += "\n" + note
    return text, truncated


def http_get(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    url = args["url"].strip()
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        return fail(
            f"only http and https URLs can be fetched, not {scheme or 'a URL without a scheme'}: {url}",
            "bad_scheme",
        )
    checker = ctx.url_checker
    refusal = checker(url) if checker is not None else None
    if refusal:
        return fail(refusal, "refused")
    timeout = min(ctx.timeout, MAX_HTTP_TIMEOUT_S)
    opener = urllib.request.build_opener(_HttpOnlyRedirects(checker))
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with opener.open(request, timeout=timeout) as response:
            text, truncated = _format_response(response, response.status, response.reason, ctx, url)
            return ToolResult(ok=True, output=text, truncated=truncated)
    except urllib.error.HTTPError as exc:
        # A non-2xx response: its body often says why, so the model gets it too.
        with exc:
            text, truncated = _format_response(exc, exc.code, str(exc.reason), ctx, url)
        return ToolResult(ok=False, output=text, truncated=truncated, error="http_status")
    except _Refused as exc:
        return fail(str(exc.reason), "refused")
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            return fail(f"timed out after {timeout:g}s fetching {url}", "timeout")
        return fail(f"could not fetch {url}: {reason}", "network")
    except TimeoutError:
        return fail(f"timed out after {timeout:g}s fetching {url}", "timeout")
    except (OSError, ValueError) as exc:
        # ValueError: urllib's verdict on a malformed URL (e.g. no host).
        return fail(f"could not fetch {url}: {exc}", "network")


def build_http_tool() -> FunctionTool:
    spec = ToolSpec(
        "http_get",
        "Fetch an http(s) URL with GET (redirects followed) and return the status line and body text.",
        build_object_schema(
            {"url": describe_param("string", "The http:// or https:// URL to fetch.")}, ["url"]
        ),
        read_only=True,
        touches=Touches(url="url"),
    )
    return FunctionTool(spec, http_get)
