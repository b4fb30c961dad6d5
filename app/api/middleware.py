"""Pure-ASGI middleware: request id + access log, the request body size limit, and the HTTP
conventions (HEAD, If-None-Match, Cache-Control)."""

from __future__ import annotations

import re
import time
import uuid

import structlog
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.conditional import none_match
from app.api.deprecation import SCOPE_KEY as SUNSET_KEY
from app.api.deprecation import sunset_headers
from app.logging import log

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestContextMiddleware:
    """Binds a request id (the caller's ``X-Request-ID`` when sane, else a new one) to the log
    context and the response, and writes one access-log line per request — no query string,
    no headers, no body. Also adds the headers that request handling left in
    ``scope["state"]["response_headers"]`` (the RateLimit headers), whatever the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                if _REQUEST_ID.match(candidate):
                    request_id = candidate
                break
        if request_id is None:
            request_id = uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        began = time.perf_counter()
        status = 500
        header = (b"x-request-id", request_id.encode())

        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
                message["headers"] = [
                    *message.get("headers", []),
                    header,
                    *state.get("response_headers", ()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # A bug, not a domain error. Log its type only (the message could hold request data),
            # answer with a problem carrying the request id, and do not re-raise: the server
            # would print a traceback with locals and messages into its log.
            log.error("unhandled_error", error_type=type(exc).__name__)
            if not started:
                status = 500
                from app.api.problems import problem_response

                response = problem_response(
                    500,
                    "internal_error",
                    title="Internal error",
                    detail="Something went wrong; nothing was changed.",
                    headers={"X-Request-ID": request_id},
                )
                await response(scope, receive, send)
        finally:
            log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                duration_ms=round((time.perf_counter() - began) * 1000, 2),
            )
            structlog.contextvars.clear_contextvars()


class BodySizeLimitMiddleware:
    """Refuses bodies over ``max_bytes`` with 413, by ``Content-Length`` up front or while
    streaming (chunked uploads), before the application buffers them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self._reject(scope, receive, send)
                    return
                break
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, f"Request body exceeds {self.max_bytes} bytes")
            return message

        await self.app(scope, limited_receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        from app.api.problems import problem_response

        response = problem_response(
            413,
            "payload_too_large",
            title="Request body too large",
            detail=f"Request body exceeds {self.max_bytes} bytes",
        )
        await response(scope, receive, send)


# Everything under these prefixes may carry case data (or tokens): never stored by a cache.
_NO_STORE_PREFIXES = ("/v1/", "/graphql", "/oauth/")
# What a 304 keeps of the 200 it replaces (RFC 9110 §15.4.5), besides our own headers.
_KEPT_ON_304 = frozenset(
    {b"etag", b"cache-control", b"vary", b"content-location", b"date", b"expires"}
)


class HttpConventionsMiddleware:
    """HTTP details every route gets without writing them (CONTRACT "HTTP details"):

    - ``HEAD`` wherever ``GET`` is served: the request runs as ``GET`` (with the same checks,
      and audited as the read it is) and the body is dropped, the headers kept.
    - ``If-None-Match`` on ``GET``/``HEAD``: a 200 whose ``ETag`` it names becomes **304** with no
      body (the weak comparison, RFC 9110 §13.1.2).
    - ``Cache-Control: no-store`` on every API response (``/v1``, ``/graphql``, ``/oauth``) that
      does not set its own.
    - ``Deprecation``, ``Sunset`` and ``Link`` on responses of retired operations
      (``app.api.deprecation``).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        head = method == "HEAD"
        if head:
            scope = {**scope, "method": "GET"}
        if_none_match = None
        if method in ("GET", "HEAD"):
            for name, value in scope["headers"]:
                if name == b"if-none-match":
                    if_none_match = value.decode("latin-1")
                    break
        no_store = scope["path"].startswith(_NO_STORE_PREFIXES)
        not_modified = False

        async def conventions(message: Message) -> None:
            nonlocal not_modified
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if SUNSET_KEY in scope:
                    headers.extend(sunset_headers(scope))
                if no_store and not any(n.lower() == b"cache-control" for n, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                if if_none_match is not None and message["status"] == 200:
                    tag = next((v for n, v in headers if n.lower() == b"etag"), None)
                    if tag is not None and none_match(if_none_match, tag.decode("latin-1")):
                        not_modified = True
                        headers = [(n, v) for n, v in headers if n.lower() in _KEPT_ON_304]
                        message = {**message, "status": 304}
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body" and (head or not_modified):
                message = {**message, "body": b""}
            await send(message)

        await self.app(scope, receive, conventions)
