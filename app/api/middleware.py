"""The one pure-ASGI middleware in front of every route (:class:`ApiMiddleware`): request id
and access log, metrics, the request body size limit, the HTTP conventions (HEAD,
If-None-Match, Cache-Control, Deprecation/Sunset), and the last word on unexpected errors.

One layer, one ``send`` wrapper: each ASGI layer costs a call and a closure on every message of
every request, and these concerns all look at the same request and the same response start.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.conditional import none_match
from app.api.deprecation import SCOPE_KEY as SUNSET_KEY
from app.api.deprecation import sunset_headers
from app.api.metrics import Metrics, route_template
from app.logging import log

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# The longest request target (path and query, as sent) answered: 8 KiB, as nginx's default
# buffers and most load balancers allow. Every list filter of the API fits many times over.
MAX_TARGET_BYTES = 8192
# Set in the scope by the HTTP server (app.api.http_server) for a target it stopped reading.
TARGET_TOO_LONG = "aftercare.target_too_long"
_clear_log_context = structlog.contextvars.clear_contextvars
_bind_log_context = structlog.contextvars.bind_contextvars

# Everything under these prefixes may carry case data (or tokens): never stored by a cache.
_NO_STORE_PREFIXES = ("/v1/", "/graphql", "/oauth/")
# What a 304 keeps of the 200 it replaces (RFC 9110 §15.4.5), besides our own headers.
_KEPT_ON_304 = frozenset(
    {b"etag", b"cache-control", b"vary", b"content-location", b"date", b"expires"}
)


CLIENT_CLOSED_REQUEST = 499  # (nginx's; never sent: for the log line and the metrics)


class ApiMiddleware:
    """Everything every request gets, in this order on the way in:

    - **Request id**: the caller's ``X-Request-ID`` when it matches ``[A-Za-z0-9._-]{8,64}``,
      else a new one; bound to the log context, put in ``scope["state"]["request_id"]`` and
      sent back. After the response, one access-log line (method, path, status, duration: no
      query string, no headers, no body).
    - **Request target limit**: a path and query longer than ``MAX_TARGET_BYTES`` is refused
      with 414 before the app runs (``aftercare serve`` stops reading such a target at the
      limit: ``app.api.http_server``).
    - **Body size limit**: a ``Content-Length`` over ``max_bytes`` is refused with 413 before
      the app runs; a chunked body is counted while it streams (413 once it passes the limit).
    - **HTTP conventions**: ``HEAD`` runs as ``GET`` (same checks, audited as the read it is)
      and its body is dropped; on ``GET``/``HEAD`` an ``If-None-Match`` naming the 200's
      ``ETag`` turns it into **304** (weak comparison, RFC 9110 §13.1.2) keeping only the
      headers a 304 keeps; ``Cache-Control: no-store`` on every ``/v1``, ``/graphql`` and
      ``/oauth`` response that sets none; ``Deprecation``/``Sunset``/``Link`` on retired
      operations (``app.api.deprecation``); the headers request handling left in
      ``scope["state"]["response_headers"]`` (the RateLimit headers), whatever the response.
    - **Metrics**: every request counted and timed by method, route template and status.
    - **A client gone** while its body was read (``ClientDisconnect``): counted and logged as
      status 499, nginx's "client closed request", with no answer (nobody is there for one).
    - **Unexpected errors**: an exception that escapes the app is a bug. Its type (never its
      message, which could hold request data) is logged and, if nothing was sent yet, a 500
      problem carrying the request id answers; it is not re-raised (the server would print a
      traceback with locals).
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, metrics: Metrics) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        method = scope["method"]
        request_id: str | None = None
        if_none_match: str | None = None
        length: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                if request_id is None:
                    candidate = value.decode("latin-1")
                    request_id = candidate if _REQUEST_ID.fullmatch(candidate) else ""
            elif name == b"if-none-match":
                if if_none_match is None:
                    if_none_match = value.decode("latin-1")
            elif name == b"content-length" and length is None:
                length = value
        if not request_id:
            request_id = uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        _clear_log_context()
        _bind_log_context(request_id=request_id)
        head = method == "HEAD"
        if head:
            # The app serves HEAD as GET, in a scope of its own: the server's scope keeps HEAD,
            # which is how uvicorn knows not to send (or expect) the body's Content-Length
            # bytes. Changing it in place made uvicorn wait for a body that never came, log an
            # error and drop the kept-alive connection.
            scope = {**scope, "method": "GET"}
        elif method != "GET":
            if_none_match = None
        no_store = scope["path"].startswith(_NO_STORE_PREFIXES)
        id_header = (b"x-request-id", request_id.encode())
        status = 500
        started = False
        drop_body = head

        async def respond(message: Message) -> None:
            nonlocal status, started, drop_body
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers: list[Any] = list(message.get("headers", ()))
                if SUNSET_KEY in scope:
                    headers.extend(sunset_headers(scope))
                if no_store and not any(n.lower() == b"cache-control" for n, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                if if_none_match is not None and status == 200:
                    tag = next((v for n, v in headers if n.lower() == b"etag"), None)
                    if tag is not None and none_match(if_none_match, tag.decode("latin-1")):
                        drop_body = True
                        status = 304
                        headers = [(n, v) for n, v in headers if n.lower() in _KEPT_ON_304]
                headers.append(id_header)
                headers.extend(state.get("response_headers", ()))
                message = {**message, "status": status, "headers": headers}
            elif drop_body and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        if scope.get(TARGET_TOO_LONG) or (
            len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
            > MAX_TARGET_BYTES
        ):
            await _target_too_long(scope, receive, respond)
            self._finish(method, scope, status, began)
            return
        app_receive = receive
        if method not in ("GET", "HEAD"):
            if length is not None and _over(length, self.max_bytes):
                await self._too_large(scope, receive, respond)
                self._finish(method, scope, status, began)
                return
            app_receive = self._limited(receive)
        try:
            await self.app(scope, app_receive, respond)
        except ClientDisconnect:
            if started:  # a body read after the answer began: a bug, with the answer's status
                log.error("unhandled_error", error_type="ClientDisconnect")
            else:
                # the client went (or was closed for sending its body too slowly) before the
                # app had read the body: nobody to answer; counted as nginx does, not as a bug
                log.info("client_disconnected")
                status = CLIENT_CLOSED_REQUEST
        except Exception as exc:
            log.error("unhandled_error", error_type=type(exc).__name__)
            if not started:
                from app.api.problems import problem_response

                response = problem_response(
                    500,
                    "internal_error",
                    title="Internal error",
                    detail="Something went wrong; nothing was changed.",
                    headers={"X-Request-ID": request_id},
                )
                status = 500
                await response(scope, receive, send)
        finally:
            self._finish(method, scope, status, began)

    def _finish(self, method: str, scope: Scope, status: int, began: float) -> None:
        seconds = time.perf_counter() - began
        route = route_template(scope)
        self.metrics.observe(method, route, status, seconds)
        # The route's template, not the path: a path is the caller's text (a name typed where
        # an id belongs would be logged as it came); a template is ours (`unmatched` for none).
        log.info(
            "request",
            method=method,
            route=route,
            status=status,
            duration_ms=round(seconds * 1000, 2),
        )
        _clear_log_context()

    def _limited(self, receive: Receive) -> Receive:
        max_bytes = self.max_bytes
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise HTTPException(413, f"Request body exceeds {max_bytes} bytes")
            return message

        return limited_receive

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        from app.api.oauth import is_oauth, unreadable
        from app.api.problems import problem_response

        detail = f"Request body exceeds {self.max_bytes} bytes"
        if is_oauth(scope["path"]):  # OAuth clients read RFC 6749 errors there
            response = unreadable(detail, 413)
        else:
            response = problem_response(
                413, "payload_too_large", title="Request body too large", detail=detail
            )
        await response(scope, receive, send)


async def _target_too_long(scope: Scope, receive: Receive, send: Send) -> None:
    from app.api.problems import problem_response

    response = problem_response(
        414,
        "uri_too_long",
        title="Request target too long",
        detail=f"The path and query exceed {MAX_TARGET_BYTES} bytes",
    )
    await response(scope, receive, send)


def _over(length: bytes, max_bytes: int) -> bool:
    try:
        return int(length) > max_bytes
    except ValueError:
        return False
