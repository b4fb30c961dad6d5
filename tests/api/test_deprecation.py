"""A retired operation says so on every response (RFC 9745 ``Deprecation``, RFC 8594 ``Sunset``,
``Link rel="deprecation"``) and in the OpenAPI document. Nothing is retired today, so the test
registers a retired route (and a live twin) on its own app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, Response

from app.api.deprecation import Sunset, retired
from app.db.database import Database
from app.domain.keys import KeyRing
from app.main import create_app
from app.settings import Settings

OLD = Sunset(
    since=date(2027, 1, 4),
    date=date(2027, 7, 5),
    link="https://example.org/aftercare/CHANGELOG.md#retired-old-thing",
)


class Thing(BaseModel):
    name: str
    colour: str | None = Field(
        default=None, deprecated=True, description="Retired: use `name`. Sunset: 2027-07-05"
    )


def _router() -> APIRouter:
    router = APIRouter(prefix="/v1/test-deprecation")

    @router.get("/old", response_model=Thing, **retired(OLD))
    async def old_thing(fail: bool = False) -> Response:
        if fail:
            return JSONResponse({"code": "conflict"}, status_code=409)
        return JSONResponse({"name": "x"})

    @router.get("/new", response_model=Thing)
    async def new_thing() -> Response:
        return JSONResponse({"name": "x"})

    return router


@pytest.fixture
async def retiring(
    settings: Settings, database: Database, keyring: KeyRing
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings, database=database, keyring=keyring, configure_logs=False)
    app.include_router(_router())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield app, client


async def test_responses_of_a_retired_route_carry_deprecation_sunset_and_link(
    retiring: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, client = retiring
    for method, query in (("GET", ""), ("HEAD", ""), ("GET", "?fail=true")):
        response = await client.request(method, "/v1/test-deprecation/old" + query)
        assert response.status_code in (200, 409)
        epoch = datetime(2027, 1, 4, tzinfo=UTC).timestamp()
        assert response.headers["deprecation"] == f"@{int(epoch)}"
        assert response.headers["sunset"] == "Mon, 05 Jul 2027 00:00:00 GMT"
        assert parsedate_to_datetime(response.headers["sunset"]) == datetime(2027, 7, 5, tzinfo=UTC)
        assert response.headers["link"] == f'<{OLD.link}>; rel="deprecation"'
    live = await client.get("/v1/test-deprecation/new")
    assert live.status_code == 200
    assert not {"deprecation", "sunset", "link"} & set(live.headers)


async def test_a_retired_route_is_deprecated_in_the_document(
    retiring: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = retiring
    served = (await client.get("/openapi.json")).json()
    document: dict[str, Any] = get_openapi(title="t", version="1", routes=app.routes)
    for doc in (served, document):
        old = doc["paths"]["/v1/test-deprecation/old"]["get"]
        assert old["deprecated"] is True
        assert old["x-sunset"] == "2027-07-05"
        assert "deprecated" not in doc["paths"]["/v1/test-deprecation/new"]["get"]
        colour = doc["components"]["schemas"]["Thing"]["properties"]["colour"]
        assert colour["deprecated"] is True


def test_a_sunset_comes_after_its_deprecation_and_links_to_https() -> None:
    with pytest.raises(ValueError, match="after"):
        Sunset(since=date(2027, 1, 4), date=date(2027, 1, 4), link="https://example.org/")
    with pytest.raises(ValueError, match="https"):
        Sunset(since=date(2027, 1, 4), date=date(2027, 7, 5), link="http://example.org/")
