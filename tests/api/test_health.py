from __future__ import annotations

import httpx

from app.db.database import Database
from app.domain.keys import KeyRing
from app.main import create_app
from app.settings import Settings


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_current_schema(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"


async def test_interactive_docs_only_in_development_openapi_always(
    client: httpx.AsyncClient, settings: Settings, database: Database, keyring: KeyRing
) -> None:
    assert (await client.get("/openapi.json")).status_code == 200
    assert (await client.get("/docs")).status_code == 200
    assert (await client.get("/redoc")).status_code == 200
    production = create_app(
        settings.model_copy(update={"env": "production"}),
        database=database,
        keyring=keyring,
        configure_logs=False,
    )
    transport = httpx.ASGITransport(app=production)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as prod:
        assert (await prod.get("/openapi.json")).status_code == 200
        assert (await prod.get("/docs")).status_code == 404
        assert (await prod.get("/redoc")).status_code == 404
        assert (await prod.get("/docs/assets/swagger-ui-bundle.js")).status_code == 404
        assert (await prod.get("/healthz")).status_code == 200
