"""One webhook attempt over HTTP: resolve, check, connect to the checked address, POST, judge.

The SSRF guard (``app.domain.webhook_targets``) is only as good as the connection that follows
it: if the HTTP client resolved the name again, a DNS answer that changes between the check and
the connect (DNS rebinding) would reach an address nobody checked. So an attempt

1. checks the URL again (:func:`~app.domain.webhook_targets.check_url`),
2. resolves the host **once** with the resolver it is given and checks every address,
3. connects to one of those addresses, and only to them: httpx runs over an httpcore network
   backend (:class:`_PinnedBackend`) that never resolves anything; it connects to the addresses
   pinned for this attempt (a context variable set around the request) and refuses any other
   host. The request itself still names the original host, so the ``Host`` header, TLS SNI and
   certificate verification are all for the host name the partner registered.

No redirect is followed (a 3xx is a failed attempt), proxies from the environment are ignored,
every phase has a timeout and the whole attempt a deadline, and at most ``max_response_bytes``
of the answer are read (and thrown away: response bodies are never kept). Every failure becomes a
:class:`DeliveryResult` with an ``error_code``; :func:`deliver` never raises for the receiver's
sake.

This is the only module that imports httpx/httpcore in ``app`` (lint contract
"outbound-http"): every outbound request goes through the guard.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Literal

import httpcore
import httpx
import structlog

from app.domain.webhook_targets import (
    InvalidTarget,
    Resolver,
    TargetRefused,
    TargetUnresolvable,
    check_url,
    resolve_target,
)

ErrorCode = Literal[
    "invalid_url",
    "refused_address",
    "dns_error",
    "timeout",
    "connection_error",
    "tls_error",
    "protocol_error",
    "too_large",
    "unexpected_error",
]

DEFAULT_TIMEOUT_SECONDS: Final = 10.0
DEFAULT_MAX_RESPONSE_BYTES: Final = 65_536
USER_AGENT: Final = "Aftercare-Exchange-Webhooks/1"

_log = structlog.get_logger("aftercare.webhooks")


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What one attempt came to. ``status_code`` is the receiver's HTTP status, or None when no
    status line arrived. ``error_code`` says why there was no (complete) answer: no connection
    was made (``invalid_url``, ``refused_address``, ``dns_error``), it failed (``timeout``,
    ``connection_error``, ``tls_error``, ``protocol_error``, ``unexpected_error``), or the body
    was longer than the limit (``too_large``: reading stopped there). A status that arrived
    still counts when the body then times out or is too large: the attempt succeeded when
    :attr:`ok`, any 2xx status within the deadline (CONTRACT: "any 2xx within 10 s counts")."""

    status_code: int | None
    duration_ms: int
    error_code: ErrorCode | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


async def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's resolver (``getaddrinfo`` on the event loop's executor)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True, slots=True)
class _Pin:
    host: str
    port: int
    addresses: tuple[str, ...]


_pinned: ContextVar[_Pin | None] = ContextVar("webhook_pinned_addresses", default=None)


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to the addresses pinned for the current attempt, never resolving a name.

    httpcore opens a pooled connection inside the task that sends the request, so the pin set
    by :meth:`WebhookSender.deliver` is visible here. A host or port other than the pinned one
    (there is none: redirects are off, proxies ignored) is refused rather than looked up."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        pin = _pinned.get()
        if pin is None or pin.host != host.lower() or pin.port != port:
            raise httpcore.ConnectError("no checked address for this host")
        last: Exception = httpcore.ConnectError("no address")
        for address in pin.addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not webhook targets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (request/response mapping, exception mapping) over a connection
    pool whose network backend is :class:`_PinnedBackend`. httpx has no public argument for a
    network backend, so the pool it builds is replaced by an equivalent one that has it; the
    pinning tests fail if a future httpx stops using ``_pool``."""

    def __init__(self, *, ssl_context: ssl.SSLContext, max_connections: int) -> None:
        super().__init__(verify=ssl_context, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=5.0,
            http1=True,
            http2=False,
            network_backend=_PinnedBackend(),
        )


class WebhookSender:
    """Sends attempts with one connection pool (reuse it: a worker keeps one for its life).

    Pooled keep-alive connections are per host name and port and were made to an address that
    was checked when they were opened; each attempt still resolves and checks the name before
    it sends anything."""

    def __init__(
        self,
        *,
        resolver: Resolver = system_resolver,
        allow_private: bool = False,
        require_https: bool = False,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_connections: int = 100,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._resolver = resolver
        self._allow_private = allow_private
        self._require_https = require_https
        self._timeout = timeout
        self._max_response_bytes = max_response_bytes
        transport = _PinnedTransport(
            ssl_context=ssl_context or httpx.create_ssl_context(),
            max_connections=max_connections,
        )
        self._client = httpx.AsyncClient(
            transport=transport,
            trust_env=False,
            follow_redirects=False,
            timeout=httpx.Timeout(timeout),
        )

    async def __aenter__(self) -> WebhookSender:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def deliver(
        self, target_url: str, body: bytes, headers: Mapping[str, str]
    ) -> DeliveryResult:
        """POST ``body`` to ``target_url`` with ``headers`` (the ``webhook-*`` ones); never
        raises for anything the receiver or the network does."""
        started = time.perf_counter()
        status: list[int] = []  # set as soon as the status line arrives
        error: ErrorCode | None = None
        try:
            async with asyncio.timeout(self._timeout):
                error = await self._attempt(target_url, body, headers, status)
        except TargetRefused:
            error = "refused_address"
        except TargetUnresolvable:
            error = "dns_error"
        except InvalidTarget:
            error = "invalid_url"
        except (TimeoutError, httpx.TimeoutException):
            error = "timeout"
        except httpx.ProtocolError:
            error = "protocol_error"
        except httpx.TransportError as exc:
            error = "tls_error" if _caused_by_tls(exc) else "connection_error"
        except Exception as exc:  # a webhook attempt must not take the worker down
            error = "unexpected_error"
            # the type only: a message could quote the request
            _log.warning("webhook_attempt_unexpected_error", error_type=type(exc).__name__)
        duration_ms = round((time.perf_counter() - started) * 1000)
        return DeliveryResult(
            status_code=status[0] if status else None, duration_ms=duration_ms, error_code=error
        )

    async def _attempt(
        self, target_url: str, body: bytes, headers: Mapping[str, str], status: list[int]
    ) -> ErrorCode | None:
        target = check_url(
            target_url, production=self._require_https, allow_private=self._allow_private
        )
        addresses = await resolve_target(target, self._resolver, allow_private=self._allow_private)
        # the normalised URL: the host is the one checked (an IP literal in canonical form), and
        # should httpx read it differently, the pinned backend refuses to connect anywhere
        url = httpx.URL(target.url)
        request_headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            **{k.lower(): v for k, v in headers.items()},
        }
        token = _pinned.set(_Pin(target.host, target.port, tuple(map(str, addresses))))
        try:
            request = self._client.build_request("POST", url, content=body, headers=request_headers)
            response = await self._client.send(request, stream=True)
            status.append(response.status_code)
            try:
                received = 0
                async for chunk in response.aiter_raw():
                    received += len(chunk)
                    if received > self._max_response_bytes:
                        return "too_large"
                return None
            finally:
                await response.aclose()  # unread rest: the connection is closed, not pooled
        finally:
            _pinned.reset(token)


async def deliver(
    target_url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    resolver: Resolver = system_resolver,
    allow_private: bool,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,  # noqa: ASYNC109 (enforced with asyncio.timeout)
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    require_https: bool = False,
    ssl_context: ssl.SSLContext | None = None,
) -> DeliveryResult:
    """One attempt with a connection of its own (a worker sending many keeps a
    :class:`WebhookSender` instead)."""
    async with WebhookSender(
        resolver=resolver,
        allow_private=allow_private,
        require_https=require_https,
        timeout=timeout,
        max_response_bytes=max_response_bytes,
        max_connections=1,
        ssl_context=ssl_context,
    ) as sender:
        return await sender.deliver(target_url, body, headers)


def _caused_by_tls(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
