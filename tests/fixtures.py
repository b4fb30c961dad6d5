"""Partner and case fixtures shared by the API and GraphQL tests (registered in conftest.py), and
the app served over a real socket (``served``).

A test module that needs a partner with other scopes, services or an asserted name defines its
own fixture next to its tests; it overrides the shared one for that module only.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from app.api.http_server import RenewedConnections
from tests.factories import Factory, Partner
from tests.helpers import open_case


@pytest.fixture
async def lead(factory: Factory) -> Partner:
    """A shelter with every scope: the organisation that opens cases in most tests."""
    return await factory.partner(name="Lead Shelter")


@pytest.fixture
async def member(factory: Factory) -> Partner:
    """A medical provider, put on a lead's care team by the tests that need it."""
    return await factory.partner(name="Care Team Clinic", kind="medical_provider")


@pytest.fixture
async def stranger(factory: Factory) -> Partner:
    """An organisation with every scope and no relation to anyone's cases."""
    return await factory.partner(name="Stranger NGO")


@pytest.fixture
async def clinic(factory: Factory) -> Partner:
    """A medical provider offering medical services: the usual referral receiver."""
    return await factory.partner(name="River Clinic", kind="medical_provider", services=["medical"])


@pytest.fixture
async def partner(factory: Factory) -> Partner:
    """Any organisation with every scope, for tests about the transport rather than the data."""
    return await factory.partner()


@pytest.fixture
async def case(client: httpx.AsyncClient, lead: Partner) -> dict[str, Any]:
    """A case opened by ``lead`` (whichever ``lead`` the requesting module uses)."""
    return await open_case(client, lead)


@pytest.fixture
async def served(app: FastAPI) -> AsyncIterator[str]:
    """The app under uvicorn on a free 127.0.0.1 port, in the test's event loop (the database is
    the test fixture's): for tools that speak HTTP from outside (Schemathesis, curl)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, http=RenewedConnections, lifespan="off", log_level="warning", access_log=False
    )  # (the connection handling `aftercare serve` runs with)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task
    sock.close()
