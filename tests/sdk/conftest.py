"""The SDK (clients/python) against the real service on the test database.

The async client talks to the ASGI app through ``httpx.ASGITransport``. The sync client runs in a
worker thread (``asyncio.to_thread``) with :class:`LoopTransport`, a sync transport that hands
each request to the same ASGI app on the test's event loop: the app and its database pool live on
that loop, and the sync client's code (the generated twin of the async one) runs unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import httpx
import pytest
from aftercare_client import AftercareClient, AsyncAftercareClient, RetryPolicy
from fastapi import FastAPI

from app.settings import Settings
from tests.factories import Partner

BASE_URL = "http://testserver"


@dataclass
class Seen:
    """One exchange as the client's transport saw it."""

    method: str
    path: str
    status: int
    request_headers: httpx.Headers
    response_headers: httpx.Headers
    at: float


@dataclass
class Recorder(httpx.AsyncBaseTransport):
    """Forwards to the app and records what went by; ``tamper`` may replace an answer."""

    app: FastAPI
    seen: list[Seen] = field(default_factory=list)
    tamper: Callable[[httpx.Request, httpx.Response], httpx.Response | None] | None = None

    def __post_init__(self) -> None:
        self._inner = httpx.ASGITransport(app=self.app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        await response.aread()
        if self.tamper is not None:
            response = self.tamper(request, response) or response
        self.seen.append(
            Seen(
                request.method,
                request.url.path,
                response.status_code,
                request.headers,
                response.headers,
                asyncio.get_running_loop().time(),
            )
        )
        return response

    def paths(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path == path]


class LoopTransport(httpx.BaseTransport):
    """A sync transport that runs each request on ``loop`` through an async transport."""

    def __init__(self, inner: httpx.AsyncBaseTransport, loop: asyncio.AbstractEventLoop) -> None:
        self._inner = inner
        self._loop = loop

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def forward() -> httpx.Response:
            copy = httpx.Request(
                request.method, request.url, headers=request.headers, content=request.read()
            )
            answer = await self._inner.handle_async_request(copy)
            body = await answer.aread()
            headers = [(k, v) for k, v in answer.headers.multi_items() if k != "content-encoding"]
            return httpx.Response(answer.status_code, headers=headers, content=body)

        return asyncio.run_coroutine_threadsafe(forward(), self._loop).result(timeout=120)


FAST_RETRY = RetryPolicy(max_retries=3, backoff=0.01, max_wait=5.0, jitter=0.1)


@pytest.fixture
def recorder(app: FastAPI) -> Recorder:
    return Recorder(app)


def async_client(
    transport: httpx.AsyncBaseTransport, partner: Partner, **kw: object
) -> AsyncAftercareClient:
    kw.setdefault("retry", FAST_RETRY)
    return AsyncAftercareClient(
        BASE_URL,
        partner.client.client_id,
        partner.secret,
        transport=transport,
        **kw,  # type: ignore[arg-type]
    )


def sync_client(
    transport: httpx.AsyncBaseTransport, partner: Partner, **kw: object
) -> AftercareClient:
    kw.setdefault("retry", FAST_RETRY)
    loop = asyncio.get_running_loop()
    return AftercareClient(
        BASE_URL,
        partner.client.client_id,
        partner.secret,
        transport=LoopTransport(transport, loop),
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
async def hub(recorder: Recorder, lead: Partner) -> AsyncIterator[AsyncAftercareClient]:
    """The lead shelter's async SDK client."""
    async with async_client(recorder, lead) as client:
        yield client


@pytest.fixture
async def clinic_hub(recorder: Recorder, clinic: Partner) -> AsyncIterator[AsyncAftercareClient]:
    async with async_client(recorder, clinic) as client:
        yield client


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Webhook targets on 127.0.0.1 are allowed here (nothing is delivered in these tests)."""
    return settings.model_copy(update={"webhook_allow_private_networks": True})
