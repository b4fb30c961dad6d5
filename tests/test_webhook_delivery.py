"""Webhook attempts (app.domain.webhook_delivery) against a real receiver on 127.0.0.1.

The receiver is a small asyncio HTTP/1.1 server written here, so each test can make it answer
the way it needs (slowly, hugely, with a redirect, not at all) and count what reached it. The
pinning tests resolve a name that no DNS knows (``receiver.test``) with a fake resolver: the
attempt can only succeed if it connects to the address that resolver gave, once."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpcore
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.domain.webhook_delivery import (
    DeliveryResult,
    WebhookSender,
    _Pin,
    _pinned,
    _PinnedBackend,
    deliver,
)
from app.domain.webhook_signing import generate_secret, sign_headers, verify

BODY = b'{"id":"evt_1","type":"webhook.test","data":{}}'


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers by path: /ok 204, /fail 500, /redirect 302 to /ok, /slow after 2 s, /stall a 202
    whose body stops, /huge 64 MiB, /garbage not HTTP. Counts connections and keeps each
    request."""

    port: int = 0
    connections: int = 0
    requests: list[Received] = field(default_factory=list)
    huge_bytes_sent: int = 0
    server_names: list[str | None] = field(default_factory=list)

    def url(self, path: str, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (line.partition(":") for line in lines[1:] if line)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append(Received(method, path, headers, body))
            await self.answer(path, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def answer(self, path: str, writer: asyncio.StreamWriter) -> None:
        def respond(status: str, extra: str = "", body: bytes = b"") -> None:
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
                f"{extra}\r\n".encode()
                + body
            )

        if path == "/ok":
            respond("204 No Content")
        elif path == "/fail":
            respond("500 Internal Server Error", body=b"boom")
        elif path == "/redirect":
            respond("302 Found", extra=f"Location: http://127.0.0.1:{self.port}/ok\r\n")
        elif path == "/slow":
            await asyncio.sleep(2)
            respond("200 OK")
        elif path == "/huge":
            size = 64 * 1024 * 1024  # far more than socket buffers hold
            writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode())
            chunk = b"x" * 65536
            for _ in range(size // len(chunk)):
                writer.write(chunk)
                await writer.drain()
                self.huge_bytes_sent += len(chunk)
        elif path == "/stall":
            writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 10\r\n\r\nabc")
            await writer.drain()
            await asyncio.sleep(2)
        elif path == "/garbage":
            writer.write(b"this is not HTTP\r\n\r\n")
        await writer.drain()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    async with server:
        yield state
        server.close()


class ChangingResolver:
    """Answers 127.0.0.1 the first time and an address where nothing listens afterwards, so a
    second lookup between the check and the connect would show."""

    def __init__(self, *answers: Sequence[str]) -> None:
        self.answers = answers or (["127.0.0.1"], ["192.0.2.1"])
        self.calls: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls.append((host, port))
        return self.answers[min(len(self.calls), len(self.answers)) - 1]


async def test_2xx_is_a_success_and_the_receiver_can_verify_it(receiver: Receiver) -> None:
    secret = generate_secret()
    headers = sign_headers([secret], "evt_1", BODY)
    result = await deliver(receiver.url("/ok"), BODY, headers, allow_private=True)
    assert result.ok
    assert result.status_code == 204
    assert result.error_code is None
    assert 0 <= result.duration_ms < 5000
    [got] = receiver.requests
    assert got.method == "POST"
    assert got.body == BODY
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"].startswith("Aftercare-Exchange-Webhooks/")
    verify(secret, got.body, got.headers)


async def test_a_500_is_a_failure_with_its_status(receiver: Receiver) -> None:
    result = await deliver(receiver.url("/fail"), BODY, {}, allow_private=True)
    assert not result.ok
    assert (result.status_code, result.error_code) == (500, None)


async def test_a_redirect_is_not_followed(receiver: Receiver) -> None:
    result = await deliver(receiver.url("/redirect"), BODY, {}, allow_private=True)
    assert not result.ok
    assert result.status_code == 302
    assert [r.path for r in receiver.requests] == ["/redirect"]


async def test_a_slow_receiver_times_out(receiver: Receiver) -> None:
    result = await deliver(receiver.url("/slow"), BODY, {}, allow_private=True, timeout=0.3)
    assert result == DeliveryResult(None, result.duration_ms, "timeout")
    assert 250 <= result.duration_ms < 1500


async def test_a_2xx_whose_body_stalls_still_counts(receiver: Receiver) -> None:
    result = await deliver(receiver.url("/stall"), BODY, {}, allow_private=True, timeout=0.3)
    assert (result.status_code, result.error_code) == (202, "timeout")
    assert result.ok


async def test_a_huge_answer_is_read_only_up_to_the_limit(receiver: Receiver) -> None:
    result = await deliver(
        receiver.url("/huge"), BODY, {}, allow_private=True, max_response_bytes=65536
    )
    assert result.status_code == 200
    assert result.error_code == "too_large"
    assert result.ok  # any 2xx counts; reading just stopped
    await asyncio.sleep(0.05)
    assert receiver.huge_bytes_sent < 64 * 1024 * 1024  # the connection was dropped early


async def test_an_answer_that_is_not_http(receiver: Receiver) -> None:
    result = await deliver(receiver.url("/garbage"), BODY, {}, allow_private=True)
    assert (result.status_code, result.error_code) == (None, "protocol_error")


async def test_nobody_listening_is_a_connection_error(receiver: Receiver) -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    result = await deliver(f"http://127.0.0.1:{port}/", BODY, {}, allow_private=True)
    assert (result.status_code, result.error_code) == (None, "connection_error")


async def test_the_connection_goes_to_the_checked_address_without_a_second_lookup(
    receiver: Receiver,
) -> None:
    resolver = ChangingResolver()
    result = await deliver(
        receiver.url("/ok", host="receiver.test"), BODY, {}, resolver=resolver, allow_private=True
    )
    assert result.ok, result
    assert resolver.calls == [("receiver.test", receiver.port)]
    # the request still names the host the partner registered
    assert receiver.requests[0].headers["host"] == f"receiver.test:{receiver.port}"


async def test_each_attempt_resolves_once_and_checks_again(receiver: Receiver) -> None:
    resolver = ChangingResolver(["127.0.0.1"], ["127.0.0.1"], ["10.0.0.1"])
    async with WebhookSender(resolver=resolver, allow_private=True) as sender:
        url = receiver.url("/ok", host="receiver.test")
        assert (await sender.deliver(url, BODY, {})).ok
        assert (await sender.deliver(url, BODY, {})).ok
        assert len(resolver.calls) == 2
    async with WebhookSender(resolver=resolver, allow_private=False) as sender:
        # the name now points into a private network: refused before anything is sent
        result = await sender.deliver(url, BODY, {})
    assert result.error_code == "refused_address"
    assert len(resolver.calls) == 3
    assert len(receiver.requests) == 2


async def test_a_refused_address_is_never_connected_to(receiver: Receiver) -> None:
    resolver = ChangingResolver(["127.0.0.1"])
    by_name = await deliver(
        receiver.url("/ok", host="receiver.test"), BODY, {}, resolver=resolver, allow_private=False
    )
    by_literal = await deliver(receiver.url("/ok", host="127.1"), BODY, {}, allow_private=False)
    for result in (by_name, by_literal):
        assert result == DeliveryResult(None, result.duration_ms, "refused_address")
    assert receiver.connections == 0


async def test_one_refused_address_among_several_refuses_the_name(receiver: Receiver) -> None:
    resolver = ChangingResolver(["93.184.215.14", "169.254.169.254"])
    result = await deliver(
        "https://partner.example.org/hook", BODY, {}, resolver=resolver, allow_private=False
    )
    assert result.error_code == "refused_address"


async def test_a_name_that_does_not_resolve() -> None:
    async def nxdomain(host: str, port: int) -> Sequence[str]:
        raise OSError("Name or service not known")

    result = await deliver(
        "https://nowhere.example.org/", BODY, {}, resolver=nxdomain, allow_private=False
    )
    assert (result.status_code, result.error_code) == (None, "dns_error")


@pytest.mark.parametrize("url", ["ftp://example.org/", "https://u:p@example.org/", "not a url"])
async def test_a_bad_url_is_not_attempted(url: str) -> None:
    result = await deliver(url, BODY, {}, allow_private=True)
    assert result.error_code == "invalid_url"


async def test_https_can_be_required() -> None:
    result = await deliver("http://127.0.0.1:1/", BODY, {}, allow_private=True, require_https=True)
    assert result.error_code == "invalid_url"


# --- TLS: SNI and the certificate are for the registered name, not the pinned address ------


def _certificate_authority(tmp: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A throwaway CA and a server certificate for ``name``: (server context, client context)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (tmp / "cert.pem").write_bytes(cert.public_bytes(pem))
    (tmp / "key.pem").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
    client = ssl.create_default_context(cadata=ca.public_bytes(pem).decode())
    return server, client


@pytest.fixture
async def tls_receiver(tmp_path: Path) -> AsyncIterator[tuple[Receiver, ssl.SSLContext]]:
    state = Receiver()
    server_ctx, client_ctx = _certificate_authority(tmp_path, "receiver.test")

    def record_sni(sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        state.server_names.append(name)

    server_ctx.sni_callback = record_sni
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0, ssl=server_ctx)
    state.port = server.sockets[0].getsockname()[1]
    async with server:
        yield state, client_ctx
        server.close()


async def test_tls_uses_the_registered_name_for_sni_and_the_certificate(
    tls_receiver: tuple[Receiver, ssl.SSLContext],
) -> None:
    receiver, client_ctx = tls_receiver
    resolver = ChangingResolver()
    result = await deliver(
        receiver.url("/ok", host="receiver.test", scheme="https"),
        BODY,
        {},
        resolver=resolver,
        allow_private=True,
        require_https=True,
        ssl_context=client_ctx,
    )
    assert result.ok, result
    assert receiver.server_names == ["receiver.test"]
    assert len(resolver.calls) == 1


async def test_a_certificate_for_another_name_is_a_tls_error(
    tls_receiver: tuple[Receiver, ssl.SSLContext],
) -> None:
    receiver, client_ctx = tls_receiver
    result = await deliver(
        receiver.url("/ok", host="other.test", scheme="https"),
        BODY,
        {},
        resolver=ChangingResolver(),
        allow_private=True,
        ssl_context=client_ctx,
    )
    assert (result.status_code, result.error_code) == (None, "tls_error")
    assert receiver.requests == []


async def test_an_ip_literal_gets_no_certificate_for_the_name(
    tls_receiver: tuple[Receiver, ssl.SSLContext],
) -> None:
    receiver, client_ctx = tls_receiver
    result = await deliver(
        receiver.url("/ok", scheme="https"), BODY, {}, allow_private=True, ssl_context=client_ctx
    )
    assert result.error_code == "tls_error"


async def test_the_pinned_backend_connects_nowhere_without_a_pin(receiver: Receiver) -> None:
    backend = _PinnedBackend()
    with pytest.raises(httpcore.ConnectError):
        await backend.connect_tcp("127.0.0.1", receiver.port)
    token = _pinned.set(_Pin("receiver.test", receiver.port, ("127.0.0.1",)))
    try:
        with pytest.raises(httpcore.ConnectError):  # another host
            await backend.connect_tcp("localhost", receiver.port)
        with pytest.raises(httpcore.ConnectError):  # another port
            await backend.connect_tcp("receiver.test", receiver.port + 1)
        stream = await backend.connect_tcp("receiver.test", receiver.port)
        await stream.aclose()
    finally:
        _pinned.reset(token)
    assert receiver.connections <= 1


async def test_proxies_from_the_environment_are_ignored(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://192.0.2.1:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    result = await deliver(receiver.url("/ok"), BODY, {}, allow_private=True, timeout=2)
    assert result.ok, result
