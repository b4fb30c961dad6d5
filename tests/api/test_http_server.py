"""``aftercare serve``'s connections: each serves ``AFTERCARE_KEEPALIVE_MAX_REQUESTS`` requests,
the last answered with ``Connection: close``, and the client goes on on a new one; an idle one is
kept ``AFTERCARE_KEEPALIVE_TIMEOUT_SECONDS`` (from its opening too); a request must arrive whole
within ``AFTERCARE_REQUEST_READ_TIMEOUT_SECONDS`` (a late head is 408, a late body closes); a
request target over 8 KiB is 414 and bytes that are not HTTP are 400, both as problem details."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from pydantic import ValidationError
from structlog.testing import capture_logs

from app.api.http_server import RenewedConnections
from app.api.middleware import MAX_TARGET_BYTES
from app.main import create_app
from app.settings import Settings
from tests.factories import Partner


async def echo_client_port(
    scope: MutableMapping[str, Any], receive: Any, send: Any
) -> None:  # a bare ASGI app: which connection the request came on
    assert scope["type"] == "http"
    body = str(scope["client"][1]).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    monkeypatch.setattr(RenewedConnections, "max_requests", 3)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        echo_client_port,
        http=RenewedConnections,
        lifespan="off",
        log_level="warning",
        access_log=False,
    )
    served = uvicorn.Server(config)
    task = asyncio.create_task(served.serve(sockets=[sock]))
    async with asyncio.timeout(30):
        while not served.started:
            assert not task.done(), "the server stopped before it started"
            await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    served.should_exit = True
    await task
    sock.close()


async def test_a_connection_is_closed_after_its_requests_and_the_client_goes_on(
    server: str,
) -> None:
    async with httpx.AsyncClient(base_url=server) as client:
        answers = [await client.get("/") for _ in range(7)]
    assert [a.status_code for a in answers] == [200] * 7
    closing = [a.headers.get("connection") for a in answers]
    assert closing == [None, None, "close", None, None, "close", None]
    ports = [a.text for a in answers]
    # three connections: requests 1-3, 4-6 and 7 (the client reconnected by itself)
    assert ports[0] == ports[1] == ports[2] != ports[3] == ports[4] == ports[5] != ports[6]


async def test_each_connection_counts_its_own_requests(server: str) -> None:
    async with httpx.AsyncClient(base_url=server) as one, httpx.AsyncClient(base_url=server) as two:
        first = [await one.get("/"), await one.get("/")]
        second = [await two.get("/"), await two.get("/")]
        third = await one.get("/")
    assert [a.headers.get("connection") for a in [*first, *second]] == [None] * 4
    assert third.headers["connection"] == "close"


def test_the_settings_are_what_each_server_process_serves_with(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(RenewedConnections, "max_requests", RenewedConnections.max_requests)
    monkeypatch.setattr(RenewedConnections, "idle_timeout", RenewedConnections.idle_timeout)
    monkeypatch.setattr(RenewedConnections, "read_timeout", RenewedConnections.read_timeout)
    changed = {
        "keepalive_max_requests": 7,
        "keepalive_timeout_seconds": 12,
        "request_read_timeout_seconds": 9,
    }
    create_app(settings.model_copy(update=changed), configure_logs=False)
    assert RenewedConnections.max_requests == 7
    assert RenewedConnections.idle_timeout == 12
    assert RenewedConnections.read_timeout == 9
    assert Settings.model_fields["keepalive_max_requests"].default == 100
    # longer than load balancers keep idle connections to their servers (60 s for most)
    assert Settings.model_fields["keepalive_timeout_seconds"].default == 75
    with pytest.raises(ValidationError):
        Settings(keepalive_max_requests=0)
    with pytest.raises(ValidationError):
        Settings(keepalive_timeout_seconds=0)
    # nginx's client_header_timeout
    assert Settings.model_fields["request_read_timeout_seconds"].default == 60
    with pytest.raises(ValidationError):
        Settings(request_read_timeout_seconds=0)


async def _connect(base_url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A bare TCP connection to the server at ``base_url``."""
    host, port = base_url.removeprefix("http://").split(":")
    return await asyncio.open_connection(host, int(port))


async def _until_closed(reader: asyncio.StreamReader) -> bytes:
    """What the server sends until it closes the connection."""
    received = b""
    async with asyncio.timeout(30):
        while chunk := await reader.read(4096):
            received += chunk
    return received


async def _idle_connection_lifetime(base_url: str) -> float:
    """Seconds until the server closes a connection left idle after one request."""
    reader, writer = await _connect(base_url)
    try:
        loop = asyncio.get_running_loop()
        began = loop.time()  # (before the server can arm its timer: a lower bound is sure)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")
        await _until_closed(reader)  # the rest of the answer, then nothing until the close
        return loop.time() - began
    finally:
        writer.close()


async def test_an_idle_connection_is_kept_the_configured_time_not_uvicorns_five_seconds(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that sends on a connection as the server closes it gets a reset (a POST is not
    retried); the server's idle timeout is set longer than a load balancer's so that the race is
    not the balancer's. Here, shortened, it is what the connection lives idle."""
    monkeypatch.setattr(RenewedConnections, "idle_timeout", 1)
    lifetime = await _idle_connection_lifetime(server)
    assert 0.95 <= lifetime < 4, lifetime  # (uvicorn's own: 5 s)


async def test_a_connection_that_never_sends_a_byte_is_closed_when_idle(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uvicorn arms its idle timer after a first answer only: a connection opened and left
    silent was kept for as long as the client liked."""
    monkeypatch.setattr(RenewedConnections, "idle_timeout", 1)
    loop = asyncio.get_running_loop()
    began = loop.time()
    reader, writer = await _connect(server)
    try:
        assert await _until_closed(reader) == b""
        assert 0.95 <= loop.time() - began < 4
    finally:
        writer.close()


async def test_empty_lines_do_not_stop_the_idle_timer(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """httptools skips empty lines before a request without beginning one: bytes that stopped
    the idle timer and armed no other, so a client sending CRLF now and then (or once) held
    the connection for ever."""
    monkeypatch.setattr(RenewedConnections, "idle_timeout", 1)
    loop = asyncio.get_running_loop()
    for after_an_answer in (False, True):
        reader, writer = await _connect(server)
        try:
            if after_an_answer:
                writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                await reader.readuntil(b"\r\n\r\n")
            began = loop.time()
            writer.write(b"\r\n")
            await writer.drain()
            received = await _until_closed(reader)
            assert 0.95 <= loop.time() - began < 4, after_an_answer
            assert b"HTTP/1.1 " not in received  # (closed, not answered)
        finally:
            writer.close()


async def test_a_head_sent_too_slowly_is_a_408_problem(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slowloris client sends a header line now and then, each one before the idle timer
    fires: the whole head has ``read_timeout`` seconds from its first byte."""
    monkeypatch.setattr(RenewedConnections, "read_timeout", 1)
    reader, writer = await _connect(server)
    loop = asyncio.get_running_loop()
    try:
        began = loop.time()
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")

        async def trickle() -> None:
            for n in range(4):  # (the last at 0.8 s: none as the deadline fires)
                await asyncio.sleep(0.2)
                writer.write(b"X-Slow-%d: y\r\n" % n)

        trickling = asyncio.create_task(trickle())
        try:
            answer = await _until_closed(reader)
        finally:
            trickling.cancel()
        assert 0.95 <= loop.time() - began < 4
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), head
    assert b"content-type: application/problem+json" in head.lower()
    assert b"connection: close" in head.lower()
    assert orjson.loads(body)["code"] == "request_timeout"


async def test_the_read_clock_runs_per_request_not_per_connection(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests that each arrive in time are answered however long the connection lives."""
    monkeypatch.setattr(RenewedConnections, "read_timeout", 1)
    monkeypatch.setattr(RenewedConnections, "max_requests", 100)
    async with httpx.AsyncClient(base_url=server) as client:
        answers = []
        for pause in (0.4, 0.4, 1.5, 0):  # (1.5 s: longer than a request's own deadline)
            answers.append(await client.get("/"))
            await asyncio.sleep(pause)
    assert [a.status_code for a in answers] == [200] * 4
    assert len({a.text for a in answers}) == 1  # one connection


async def test_a_body_sent_too_slowly_closes_the_connection_and_is_no_error(
    served: str, lead: Partner, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The app waits for the body: the connection is closed under it, the app sees the client
    gone, and counts the request as nginx's 499, not as a bug (a 500)."""
    monkeypatch.setattr(RenewedConnections, "read_timeout", 1)
    reader, writer = await _connect(served)
    loop = asyncio.get_running_loop()
    with capture_logs() as logged:
        try:
            began = loop.time()
            writer.write(
                b"POST /v1/cases HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Authorization: Bearer " + lead.token.encode() + b"\r\n"
                b'Content-Length: 200\r\n\r\n{"survivor": '
            )
            await writer.drain()
            assert await _until_closed(reader) == b""
            assert 0.95 <= loop.time() - began < 4
        finally:
            writer.close()
        async with asyncio.timeout(10):
            # (the app's task ends after the close; structlog offers no event to wait on)
            while not any(e["event"] == "request" for e in logged):  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    assert not [e for e in logged if e["log_level"] in ("error", "critical")], logged
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    finished = next(e for e in logged if e["event"] == "request")
    assert finished["status"] == 499 and finished["route"] == "/v1/cases"
    async with httpx.AsyncClient(base_url=served) as client:
        assert (await client.get("/healthz")).status_code == 200  # the server serves on


async def _raw(base_url: str, request: bytes) -> tuple[bytes, bytes]:
    """One request written as bytes on a new connection: the answer's head and body."""
    reader, writer = await _connect(base_url)
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return head, body


async def test_a_request_target_over_the_limit_is_414_whatever_its_length(served: str) -> None:
    """uvicorn keeps a target whole (and httptools cannot split one over 64 KiB: it was a plain
    text 400); here one is read up to the limit and answered 414 problem+json by the app."""
    for size in (70 * 1024, 1024 * 1024):  # (longer than httpx sends)
        target = b"/v1/events?types=" + b"%C3%AF" * (size // 6)
        head, body = await _raw(
            served, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        assert head.startswith(b"HTTP/1.1 414"), (size, head)
        assert b"cache-control: no-store" in head.lower()
        assert orjson.loads(body)["code"] == "uri_too_long"
    async with httpx.AsyncClient(base_url=served) as client:
        for size in (MAX_TARGET_BYTES + 1, 60 * 1024):
            query = "types=" + "%C3%AF" * (size // 6)
            answer = await client.get(f"/v1/events?{query}")
            assert answer.status_code == 414, (size, answer.text[:200])
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.json()["code"] == "uri_too_long"
            assert answer.headers["cache-control"] == "no-store"
            assert answer.headers["x-request-id"]
            assert query[:40] not in answer.text  # the target is not repeated
        # a long path (no query) too, and the connection serves the next request
        answer = await client.get("/v1/cases/" + "a" * (MAX_TARGET_BYTES + 10))
        assert answer.status_code == 414
        assert (await client.get("/healthz")).status_code == 200
        # under the limit: answered as usual (no token here: 401)
        fits = "types=" + "x" * (MAX_TARGET_BYTES - len("/v1/events?types=") - 1)
        assert (await client.get(f"/v1/events?{fits}")).status_code == 401


async def test_bytes_that_are_not_http_are_a_400_problem(served: str) -> None:
    head, body = await _raw(served, b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b"content-type: application/problem+json" in head.lower()
    assert b"cache-control: no-store" in head.lower()
    assert orjson.loads(body)["code"] == "bad_request"


async def test_a_connection_is_not_closed_under_a_body_it_has_not_read(server: str) -> None:
    """The app answers without reading the body (as a 401 or 415 does): the connection is not
    closed on the last of its requests while the body still arrives (the socket would be
    reset, and the answer lost), but on a later request read whole."""
    body = b"x" * (1024 * 1024)
    async with httpx.AsyncClient(base_url=server) as client:
        answers = [await client.post("/", content=body) for _ in range(3)]
        later = await client.get("/")
    assert [a.status_code for a in answers] == [200] * 3
    assert later.status_code == 200
    assert {answers[0].text, answers[1].text, answers[2].text} == {answers[0].text}
