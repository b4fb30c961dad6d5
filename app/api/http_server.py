"""The HTTP/1.1 connection handling of ``aftercare serve``: uvicorn's (httptools), with a limit
on the requests one connection serves, a bounded request target, and problem details for a
request that cannot be parsed.

Several server processes (``aftercare serve --workers N``) share one listening socket, and a
connection belongs to the process that accepted it for as long as it lives. A partner's client
keeps its connection open (HTTP keep-alive) and sends everything through it, so the split of
the load between the processes is the split of the connections when they were opened, however
uneven: in the soak, 25 of the 40 clients' connections went to one of the two processes, which
then did 61 % of the app's work (by CPU time). Like nginx (``keepalive_requests``) and Hypercorn
(``keep_alive_max_requests``), a connection is closed after ``max_requests`` responses (the
last one says ``Connection: close``; HTTP clients then open a new one, by themselves). A new
connection goes to whichever process accepts it first (one that is not busy, if the other is),
so an uneven split lasts until the connections are renewed, not for as long as they live: in the
same soak with renewal, the split was drawn again every 20 s or so (16/24, 23/17, 14/26).

An idle connection is kept ``idle_timeout`` seconds (75 by default, as nginx), not uvicorn's 5:
a client (a load balancer above all) that sends a request on a connection at the moment the
server closes it gets a reset, not an answer, and a POST is not retried. The race is the
client's whenever the server's idle timeout is the shorter one; load balancers keep idle
connections to their servers 60 s (AWS ALB, nginx ``keepalive_timeout`` upstream), and the
soak's GraphQL pool, whose connections wait seconds between pages, lost requests to it. The
idle timer also runs from the moment a connection opens (uvicorn's starts after a first answer
only, so a connection that never sent a byte was kept for as long as the client liked).

A request must arrive whole, head and body, within ``read_timeout`` seconds of its first byte
(``AFTERCARE_REQUEST_READ_TIMEOUT_SECONDS``, 60 by default, nginx's ``client_header_timeout``;
nginx's ``client_body_timeout`` times the gap between two reads instead, here the whole body
counts, so a 1 MiB body needs about 17 KiB/s). uvicorn has no such limit: a client sending a
header line a minute (slowloris) or a body a byte at a time held its connection, and its
request's task, forever. A head that is late is answered 408 (problem details) and the
connection closed; a body that is late closes the connection (the app, waiting for the body,
sees the client gone). A deadline that falls while the server itself is not reading (a request
waiting behind a pipelined one, a body the app has not taken yet, a client waiting for the
app's ``100 Continue``) is put off by another ``read_timeout``: the client is not the slow one.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from app.api.middleware import MAX_TARGET_BYTES, TARGET_TOO_LONG
from app.api.problems import PROBLEM_JSON, problem_body
from app.settings import Settings

# What uvicorn answers in plain text when httptools refuses the bytes (a malformed request line
# or header, a target httptools cannot split, over 64 KiB): the same answer as problem details.
_UNPARSEABLE = problem_body(
    400, "bad_request", title="Bad request", detail="The HTTP request could not be parsed"
)
_TOO_SLOW = problem_body(
    408,
    "request_timeout",
    title="Request timeout",
    detail="The request did not arrive whole in time",
)


class RenewedConnections(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing the connection after ``max_requests`` responses
    (set by each server process from its settings before it serves: :func:`configure`)."""

    max_requests: int = Settings.model_fields["keepalive_max_requests"].default
    idle_timeout: int = Settings.model_fields["keepalive_timeout_seconds"].default
    read_timeout: int = Settings.model_fields["request_read_timeout_seconds"].default

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeout_keep_alive = self.idle_timeout  # (uvicorn's, from its config: 5 s)
        self._requests = 0
        self._target_too_long = False
        self._head_read = False
        self._read_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_idle_timer()  # idle from the start: uvicorn arms it after a first answer only

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_read_clock()
        self._unset_keepalive_if_required()  # (uvicorn's own: only on a clean close)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)  # (which stops the idle timer, on any byte)
        # Bytes that begin no request (the empty lines httptools skips before one) left the
        # connection with no timer at all: idle again, the timer runs again.
        if (
            self._read_deadline is None
            and self.timeout_keep_alive_task is None
            and not self.pipeline
            and (self.cycle is None or self.cycle.response_complete)
            and not self.transport.is_closing()
            and self.transport.get_protocol() is self  # (not handed to a WebSocket)
        ):
            self._arm_idle_timer()

    def _arm_idle_timer(self) -> None:
        """uvicorn's keep-alive timer (which it arms itself after each answer)."""
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._target_too_long = False
        self._head_read = False
        self._stop_read_clock()
        self._read_deadline = self.loop.call_later(self.read_timeout, self._read_too_slow)

    def _stop_read_clock(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _read_too_slow(self) -> None:
        """The request has not arrived whole ``read_timeout`` seconds after its first byte."""
        self._read_deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if self.flow.read_paused or (  # the server is not reading: not the client's delay
            self._head_read and cycle is not None and cycle.waiting_for_100_continue
        ):  # (nor while the client waits for the app's "100 Continue" before its body)
            self._read_deadline = self.loop.call_later(self.read_timeout, self._read_too_slow)
            return
        answering = cycle is not None and not cycle.response_complete
        if not self._head_read and not answering:
            self._send_problem(408, _TOO_SLOW)
        else:  # a late body (the app sees the client gone), or a late head behind an answer
            self.transport.close()

    def on_url(self, url: bytes) -> None:
        """The request target, kept up to ``MAX_TARGET_BYTES`` (uvicorn keeps all of it, in
        memory, and httptools cannot split one over 64 KiB): past the limit the rest is not
        kept, and the request goes to the app as a target too long, which answers 414."""
        if self._target_too_long:
            return
        room = MAX_TARGET_BYTES + 1 - len(self.url)  # (+ the "?")
        if len(url) > room:
            self._target_too_long = True
            url = url[:room]
        self.url += url

    def on_headers_complete(self) -> None:
        self._head_read = True
        if self._target_too_long:
            # The path if the kept part holds all of it (for the route's log line and headers),
            # else the root; the query is dropped.
            path, query_follows, _ = self.url.partition(b"?")
            self.url = path if query_follows else b"/"
            self.scope[TARGET_TOO_LONG] = True  # type: ignore[literal-required]
        before = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is None or cycle is before:
            return  # (an upgrade: no request cycle of its own)
        self._requests += 1

    def on_message_complete(self) -> None:
        """The connection is renewed once a request has been read whole and its answer not begun
        (answered with ``Connection: close``, then closed). Closed while a body was still
        arriving (an answer given before the body was read: a 401, 405 or 415), the socket
        would be reset with the unread bytes in it, and the client could lose the answer
        (seen under a fuzzer); such a connection is renewed at a later request instead."""
        self._stop_read_clock()
        cycle = self.cycle
        if self._requests >= self.max_requests and cycle is not None and not cycle.response_started:
            cycle.keep_alive = False
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to bytes httptools refuses, as problem details (``msg`` is
        uvicorn's own text, never the request's)."""
        self._send_problem(400, _UNPARSEABLE)

    def _send_problem(self, status: int, body: bytes) -> None:
        """An answer of the server's own (no request reached the app), then the close."""
        self._stop_read_clock()
        if self.transport.is_closing():
            return
        request_id = uuid.uuid4().hex.encode()
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head.extend([name, b": ", value, b"\r\n"])
        head.extend(
            [
                b"content-type: " + PROBLEM_JSON.encode() + b"\r\n",
                b"content-length: " + str(len(body)).encode() + b"\r\n",
                b"cache-control: no-store\r\n",
                b"x-request-id: " + request_id + b"\r\n",
                b"connection: close\r\n\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(head))
        self.transport.close()


def configure(max_requests: int, idle_timeout: int, read_timeout: int) -> None:
    RenewedConnections.max_requests = max_requests
    RenewedConnections.idle_timeout = idle_timeout
    RenewedConnections.read_timeout = read_timeout
