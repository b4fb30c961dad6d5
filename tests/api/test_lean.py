"""The lean route path (app/api/lean.py) answers exactly as FastAPI's own path does.

Every route the lean path takes is asked the same questions twice, once each way (FastAPI's path
is forced with a dependency override, which the lean path steps aside for): no token, a malformed
token, a token without the route's scope, another organisation's (or no) object, malformed path
ids and query values, and the happy path on a real case, referral and webhook. Status, media type,
body and headers must match, and so must what the database saw (audit rows).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI, Request
from fastapi.dependencies.utils import get_dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.responses import Response

from app.api.deps import CasesReadCtx, LeanDependency
from app.api.lean import LeanRoute, lean_app
from app.db.database import Database
from app.domain.scopes import ALL_SCOPES
from tests.api.test_referrals import refer
from tests.factories import Factory, Partner
from tests.helpers import open_case

PARAM = re.compile(r"{([a-z_]+)}")
# Headers that differ between any two responses.
VOLATILE = {"x-request-id", "date", "ratelimit", "ratelimit-policy", "content-length"}


def lean_routes(app: FastAPI) -> list[LeanRoute]:
    return [r for r in _api_routes(app) if isinstance(r, LeanRoute) and r.lean is not None]


def _api_routes(app: FastAPI) -> list[APIRoute]:
    found: list[APIRoute] = []
    for route in app.router.routes:
        original = getattr(route, "original_router", None)
        routes = original.routes if original is not None else [route]
        found += [r for r in routes if isinstance(r, APIRoute)]
    return found


def _never() -> None:  # pragma: no cover - only its presence in the overrides matters
    pass


class Ways:
    """Switches a test app between the lean path and FastAPI's, and counts lean answers."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.lean_answers = 0
        for route in lean_routes(app):
            route.lean = self._counting(route.lean)

    def _counting(self, lean: Any) -> Any:
        async def counted(scope: Any, receive: Any, send: Any) -> None:
            self.lean_answers += 1
            await lean(scope, receive, send)

        return counted

    def __call__(self, use_fastapi: bool) -> None:
        if use_fastapi:
            self.app.dependency_overrides[_never] = _never
        else:
            self.app.dependency_overrides.pop(_never, None)


@pytest.fixture
async def both_ways(app: FastAPI) -> AsyncIterator[Ways]:
    ways = Ways(app)
    yield ways
    ways(use_fastapi=False)
    for route in lean_routes(app):
        route.lean = lean_app(route.dependant)


def _shape(response: httpx.Response) -> tuple[Any, ...]:
    headers = sorted((k, v) for k, v in response.headers.items() if k not in VOLATILE)
    body: Any = response.content
    if response.headers.get("content-type", "").endswith("json") and response.content:
        body = response.json()
        if isinstance(body, dict):
            body.pop("request_id", None)
            body.pop("instance", None)
            body.pop("generated_at", None)  # a report's time of rendering
    return response.status_code, headers, body


async def _same_both_ways(
    client: httpx.AsyncClient,
    use_fastapi: Ways,
    method: str,
    url: str,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    use_fastapi(True)
    counted = use_fastapi.lean_answers
    full = await client.request(method, url, headers=headers)
    assert use_fastapi.lean_answers == counted, "FastAPI's path was not taken"
    use_fastapi(False)
    lean = await client.request(method, url, headers=headers)
    assert use_fastapi.lean_answers == counted + 1, "the lean path was not taken"
    assert _shape(lean) == _shape(full), (method, url)
    return lean


def test_the_hot_reads_take_the_lean_path(app: FastAPI) -> None:
    lean = {f"{m} {r.path}" for r in lean_routes(app) for m in r.methods or ()}
    assert {
        "GET /v1/organizations/me",
        "GET /v1/cases/{case_id}",
        "GET /v1/cases",
        "GET /v1/referrals",
        "GET /v1/cases/{case_id}/care-plan",
        "GET /v1/events",
        "POST /graphql",
    } <= lean
    # A body, or a second dependency, keeps FastAPI's path.
    full = {
        f"{m} {r.path}"
        for r in _api_routes(app)
        if getattr(r, "lean", None) is None
        for m in r.methods or ()
    }
    assert {"POST /v1/cases", "PATCH /v1/cases/{case_id}"} <= full


class _Body(BaseModel):
    x: int


async def _plain(ctx: CasesReadCtx, limit: int = 5) -> Response:
    return Response()


async def _with_body(ctx: CasesReadCtx, body: _Body) -> Response:
    return Response()


async def _with_request(ctx: CasesReadCtx, request: Request) -> Response:
    return Response()


async def _with_response(ctx: CasesReadCtx, response: Response) -> Response:
    return response


async def _returns_model(ctx: CasesReadCtx) -> _Body:
    return _Body(x=1)


async def _no_context(limit: int = 5) -> Response:
    return Response()


def _sync(ctx: CasesReadCtx) -> Response:
    return Response()


@pytest.mark.parametrize(
    ("endpoint", "lean"),
    [
        (_plain, True),
        (_with_body, False),
        (_with_request, True),
        (_with_response, False),
        (_returns_model, False),
        (_no_context, False),
        (_sync, False),
    ],
)
def test_what_the_lean_path_leaves_to_fastapi(endpoint: Callable[..., Any], lean: bool) -> None:
    assert (lean_app(get_dependant(path="/x", call=endpoint)) is not None) is lean


async def test_failures_are_answered_the_same(
    app: FastAPI,
    client: httpx.AsyncClient,
    factory: Factory,
    partner: Partner,
    both_ways: Ways,
) -> None:
    routes = lean_routes(app)
    assert routes
    for route in routes:
        context = route.dependant.dependencies[0].call
        assert isinstance(context, LeanDependency)
        scopes = getattr(context, "scopes", ())  # GraphQL's caller checks scopes per field
        others = " ".join(sorted(set(ALL_SCOPES) - set(scopes))) or None
        wrong_scope = factory.token(partner.client, others) if scopes else None
        for method in route.methods or ():
            random = PARAM.sub("00000000-0000-4000-8000-000000000000", route.path)
            malformed = PARAM.sub("not-an-id", route.path)
            asks: list[tuple[str, dict[str, str] | None]] = [
                (random, None),
                (random, {"Authorization": "Bearer not.a.token"}),
                (random, {"Authorization": "Basic abc"}),
                (random, partner.headers),
                (malformed, partner.headers),
                (random + "?limit=0&cursor=%%%", partner.headers),
                (random + "?limit=abc", partner.headers),
            ]
            if wrong_scope is not None:
                asks.append((random, {"Authorization": f"Bearer {wrong_scope}"}))
            for url, headers in asks:
                await _same_both_ways(client, both_ways, method, url, headers)


async def _audit_rows(database: Database) -> int:
    async with database.pool.acquire() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM audit_log"))


async def test_reads_are_answered_and_audited_the_same(
    client: httpx.AsyncClient,
    database: Database,
    factory: Factory,
    lead: Partner,
    clinic: Partner,
    both_ways: Ways,
) -> None:
    case = await open_case(client, lead)
    await refer(client, lead, case, clinic)
    reads = [
        ("GET", "/v1/organizations/me", lead.headers),
        ("GET", f"/v1/organizations/{clinic.org.id}", lead.headers),
        ("GET", "/v1/organizations?limit=2", lead.headers),
        ("GET", f"/v1/cases/{case['id']}", lead.headers),
        ("GET", "/v1/cases?limit=5", lead.headers),
        ("GET", f"/v1/cases/{case['id']}/care-plan", lead.headers),
        ("GET", f"/v1/cases/{case['id']}/updates", lead.headers),
        ("GET", f"/v1/cases/{case['id']}/consents", lead.headers),
        ("GET", f"/v1/cases/{case['id']}/legal", lead.headers),
        ("GET", "/v1/referrals?direction=outgoing", lead.headers),
        ("GET", "/v1/referrals?direction=incoming", clinic.headers),
        ("GET", f"/v1/cases/{case['id']}", clinic.headers),
    ]
    for method, url, headers in reads:
        before = await _audit_rows(database)
        both_ways(True)
        full = await client.request(method, url, headers=headers)
        middle = await _audit_rows(database)
        both_ways(False)
        counted = both_ways.lean_answers
        lean = await client.request(method, url, headers=headers)
        assert both_ways.lean_answers == counted + 1, url
        after = await _audit_rows(database)
        assert _shape(lean) == _shape(full), url
        assert after - middle == middle - before, url
        if headers is lead.headers:
            assert lean.status_code == 200, (url, lean.text)
    # GraphQL: a page of cases with their referrals, and what is refused before executing.
    page = (
        "{ cases(first: 5) { edges { node { id reference "
        "referrals { edges { node { id status } } } } } } }"
    )
    graphql_asks: list[tuple[bytes, str]] = [
        (orjson.dumps({"query": page}), "application/json"),
        (orjson.dumps({"query": "{ nope }"}), "application/json"),
        (b"[]", "application/json"),
        (b"{", "application/json"),
        (orjson.dumps({"query": page}), "text/plain"),
    ]
    for body, media_type in graphql_asks:
        headers = {**lead.headers, "Content-Type": media_type}
        answers = []
        for use_fastapi in (True, False):
            both_ways(use_fastapi)
            before, counted = await _audit_rows(database), both_ways.lean_answers
            response = await client.post("/graphql", content=body, headers=headers)
            answers.append((_shape(response), await _audit_rows(database) - before))
            assert both_ways.lean_answers == counted + (not use_fastapi)
        assert answers[0] == answers[1], body
    assert answers[0][0][0] == 415
    # A conditional read: the same 304 both ways.
    first = await client.get(f"/v1/cases/{case['id']}", headers=lead.headers)
    conditional = {**lead.headers, "If-None-Match": first.headers["etag"]}
    answer = await _same_both_ways(client, both_ways, "GET", f"/v1/cases/{case['id']}", conditional)
    assert answer.status_code == 304
    head = await _same_both_ways(client, both_ways, "HEAD", f"/v1/cases/{case['id']}", lead.headers)
    assert head.status_code == 200 and head.content == b""


def test_the_dispatcher_sees_every_route_in_the_routers_order(app: FastAPI) -> None:
    from app.api.lean import LeanDispatch

    dispatcher = LeanDispatch(app.router, app.router.routes)
    flattened = [(r.path, tuple(sorted(r.methods or ()))) for r in dispatcher.table]
    in_order = [
        (getattr(r, "path", None), tuple(sorted(getattr(r, "methods", None) or ())))
        for r in app.router.routes
        if not hasattr(r, "original_router")
    ]
    assert flattened[: len(in_order)] == in_order  # /openapi.json first
    assert flattened[len(in_order) :] == [
        (r.path, tuple(sorted(r.methods or ()))) for r in _api_routes(app)
    ]


async def test_what_the_router_answers_is_unchanged(
    client: httpx.AsyncClient, partner: Partner, both_ways: Ways
) -> None:
    """Not found, wrong method, a trailing slash, HEAD: the router's answers, either way."""
    asks = [
        ("GET", "/v1/organizations/me/"),
        ("GET", "/v1/nothing-here"),
        ("DELETE", "/v1/organizations/me"),
        ("PUT", "/v1/cases/00000000-0000-4000-8000-000000000000"),
        ("GET", "/v1/cases/"),
        ("HEAD", "/v1/organizations/me"),
        ("GET", "/openapi.json"),
        ("GET", "/healthz"),
    ]
    for method, url in asks:
        answers = []
        for use_fastapi in (True, False):
            both_ways(use_fastapi)
            answers.append(_shape(await client.request(method, url, headers=partner.headers)))
        assert answers[0] == answers[1], (method, url)
