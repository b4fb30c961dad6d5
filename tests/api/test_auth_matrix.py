"""One auth matrix for every REST route, read from the app's own routes.

For each route that is not public: no token is 401 with ``WWW-Authenticate``; a token lacking the
route's scope (as the route declares it, the same metadata that OpenAPI publishes) is 403
``insufficient_scope``; and for routes addressing an object by id, another organisation's object
is 404, exactly like a missing one. A new route is covered as soon as it exists; the guard tests
fail when it is public without being listed, or takes a body the 404 table lacks.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.domain.crypto import KeyWrapper
from app.domain.keys import KeyRing
from app.domain.scopes import ALL_SCOPES
from app.main import create_app, openapi_document
from app.settings import Settings
from tests.factories import Factory, Partner
from tests.helpers import assert_forbidden, assert_problem, assert_unauthorized, iso

# Routes that take no bearer token, and why.
PUBLIC = {
    "GET /healthz": "liveness probe",
    "GET /readyz": "readiness probe",
    "GET /metrics": "Prometheus metrics: route templates and counts, no ids",
    "POST /oauth/token": "client authentication happens in the body",
    "POST /oauth/introspect": "client authentication happens in the body",
    "POST /oauth/revoke": "client authentication happens in the body",
    "GET /.well-known/jwks.json": "public keys",
    "GET /.well-known/oauth-authorization-server": "server metadata",
}

# Routes with an id that are not per-organisation objects, and why.
NOT_PRIVATE = {
    "GET /v1/organizations/{org_id}": "the directory is visible to every partner",
}

PARAM = re.compile(r"{([a-z_]+)}")


@dataclass(frozen=True)
class RestRoute:
    method: str
    path: str
    scopes: tuple[str, ...] | None  # None: public (no security requirement)
    has_body: bool

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def params(self) -> list[str]:
        return PARAM.findall(self.path)

    def url(self, ids: dict[str, str]) -> str:
        return PARAM.sub(lambda m: ids[m.group(1)], self.path)


class _NoKeys(KeyRing):
    def __init__(self) -> None:
        pass


@cache
def rest_routes() -> tuple[RestRoute, ...]:
    """Every REST operation of the app as built by ``create_app`` (no database, no keys)."""
    app = create_app(
        Settings(database_url="postgresql://unused/unused"),
        keyring=_NoKeys(),
        key_wrapper=KeyWrapper(bytes(32)),
        configure_logs=False,
    )
    return tuple(_routes_of(app))


def _routes_of(app: FastAPI) -> list[RestRoute]:
    # The OpenAPI document is the app's own route metadata, flattened across the included
    # routers: each operation with its security requirement (the scopes ``require_scopes``
    # declared) and whether it takes a body. Routes left out of the schema (/docs,
    # /openapi.json, the GraphQL endpoint) are not REST operations.
    paths: dict[str, dict[str, Any]] = openapi_document(app)["paths"]  # type: ignore[assignment]
    found = []
    for path, operations in paths.items():
        for method, operation in operations.items():
            # Public routes say `security: []`, /oauth/* client authentication (`clientBasic`).
            security = operation.get("security") or [{}]
            required = security[0].get("OAuth2ClientCredentials")
            scopes = None if required is None else tuple(required)
            found.append(RestRoute(method.upper(), path, scopes, "requestBody" in operation))
    return found


PROTECTED = [r for r in rest_routes() if r.scopes is not None]
SCOPED = [r for r in PROTECTED if r.scopes]
BY_ID = [r for r in PROTECTED if r.params and r.key not in NOT_PRIVATE]


def ids_of(routes: list[RestRoute]) -> list[str]:
    return [r.key for r in routes]


def random_ids(route: RestRoute) -> dict[str, str]:
    return {name: str(uuid.uuid4()) for name in route.params}


def test_every_route_without_a_token_is_listed_as_public() -> None:
    public = {r.key for r in rest_routes() if r.scopes is None}
    assert public == set(PUBLIC)


def test_the_matrix_sees_the_routes() -> None:
    keys = {r.key for r in rest_routes()}
    assert "GET /v1/cases/{case_id}" in keys
    assert len(PROTECTED) >= 35


@pytest.mark.parametrize("route", PROTECTED, ids=ids_of(PROTECTED))
async def test_no_token_is_401(client: httpx.AsyncClient, route: RestRoute) -> None:
    response = await client.request(route.method, route.url(random_ids(route)))
    assert_unauthorized(response)


@pytest.mark.parametrize("route", SCOPED, ids=ids_of(SCOPED))
async def test_token_without_the_routes_scope_is_403(
    client: httpx.AsyncClient, factory: Factory, partner: Partner, route: RestRoute
) -> None:
    assert route.scopes is not None
    others = " ".join(sorted(set(ALL_SCOPES) - set(route.scopes)))
    token = factory.token(partner.client, others)
    response = await client.request(
        route.method,
        route.url(random_ids(route)),
        headers={"Authorization": f"Bearer {token}"},
    )
    body = assert_forbidden(response, route.scopes[0])
    assert set(route.scopes) <= set(body["required_scopes"])


WITH_BODY = [r for r in PROTECTED if r.has_body]


@pytest.fixture
async def revoked_token(client: httpx.AsyncClient, factory: Factory, partner: Partner) -> str:
    """A well-signed token of every scope, revoked (RFC 7009) before it is used."""
    token = factory.token(partner.client, " ".join(sorted(ALL_SCOPES)))
    response = await client.post(
        "/oauth/revoke", data={"token": token}, auth=(partner.client.client_id, partner.secret)
    )
    assert response.status_code == 200, response.text
    return token


@pytest.mark.parametrize("route", PROTECTED, ids=ids_of(PROTECTED))
async def test_a_revoked_token_is_401(
    client: httpx.AsyncClient, revoked_token: str, route: RestRoute
) -> None:
    response = await client.request(
        route.method,
        route.url(random_ids(route)),
        headers={"Authorization": f"Bearer {revoked_token}"},
    )
    assert_unauthorized(response)


@pytest.mark.parametrize("route", WITH_BODY, ids=ids_of(WITH_BODY))
@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b"hello"),  # 415 for a valid token
        ("application/json", b'{"a": 1, "a": 2}'),  # 422: not one strict JSON text
        ("application/json", b"[]"),  # 422: not the route's model
    ],
    ids=["not-json", "invalid-json", "invalid-body"],
)
async def test_a_revoked_token_is_401_before_the_body_is_judged(
    client: httpx.AsyncClient, revoked_token: str, route: RestRoute, content_type: str, body: bytes
) -> None:
    response = await client.request(
        route.method,
        route.url(random_ids(route)),
        content=body,
        headers={"Authorization": f"Bearer {revoked_token}", "Content-Type": content_type},
    )
    assert_unauthorized(response)


# --- another organisation's object is 404 ---------------------------------------------------

ORG = "<caller's org id>"  # replaced by the caller's organisation id
NOW = datetime.now(UTC)


# A valid body for every route with an id that takes one: the 404 must come from the object being
# invisible, not from the body.
BODIES: dict[str, Any] = {
    "PATCH /v1/cases/{case_id}": {"risk_level": "low"},
    "POST /v1/cases/{case_id}/close": {"reason": "x"},
    "POST /v1/cases/{case_id}/consents": {
        "granted_by": ["survivor"],
        "recipient_org_id": ORG,
        "categories": ["medical"],
        "purpose": "treatment",
        "obtained_at": iso(NOW - timedelta(days=1)),
    },
    "POST /v1/cases/{case_id}/consents/{consent_id}/revoke": {"reason": "x"},
    "POST /v1/cases/{case_id}/follow-ups": {"due_on": (NOW + timedelta(days=7)).date().isoformat()},
    "POST /v1/cases/{case_id}/follow-ups/{follow_up_id}/record": {
        "contacted_at": iso(NOW - timedelta(hours=1)),
        "outcome": "stable",
    },
    "POST /v1/cases/{case_id}/home-reviews": {
        "reviewed_at": iso(NOW - timedelta(days=1)),
        "result": "approved",
    },
    "PUT /v1/cases/{case_id}/legal": {
        "documents": [{"type": "passport", "status": "held_by_trafficker"}],
    },
    "POST /v1/cases/{case_id}/goals": {
        "category": "medical",
        "title": "Sleep through the night",
        "owner_org_id": ORG,
    },
    "POST /v1/cases/{case_id}/goals/{goal_id}/progress": {
        "status": "on_hold",
        "recorded_at": iso(NOW - timedelta(hours=1)),
    },
    "POST /v1/cases/{case_id}/services": {
        "service": "medical",
        "category": "medical",
        "type": "appointment",
        "status": "scheduled",
        "scheduled_at": iso(NOW + timedelta(days=1)),
        "provider_org_id": ORG,
    },
    "PATCH /v1/cases/{case_id}/services/{service_id}": {"status": "cancelled"},
    "POST /v1/cases/{case_id}/placements": {
        "org_id": ORG,
        "setting": "ngo_shelter",
        "started_at": iso(NOW - timedelta(days=2)),
    },
    "POST /v1/cases/{case_id}/placements/{placement_id}/end": {
        "ended_at": iso(NOW - timedelta(hours=1)),
        "exit_reason": "transferred",
    },
    "POST /v1/cases/{case_id}/placements/{placement_id}/visits": {
        "visited_at": iso(NOW - timedelta(hours=1)),
        "summary": "Settled in.",
    },
    "POST /v1/cases/{case_id}/updates": {
        "kind": "service_delivered",
        "category": "medical",
        "occurred_at": iso(NOW - timedelta(days=1)),
        "summary": "Wound dressing changed.",
    },
    "POST /v1/referrals/{referral_id}/accept": None,
    "POST /v1/referrals/{referral_id}/start": None,
    "POST /v1/referrals/{referral_id}/complete": {"outcome": "x"},
    "POST /v1/referrals/{referral_id}/decline": {"reason": "x"},
    "POST /v1/referrals/{referral_id}/fail": {"reason": "x"},
    "POST /v1/referrals/{referral_id}/withdraw": {"reason": "x"},
    "PATCH /v1/webhooks/{webhook_id}": {"description": "x"},
}

# Conditional writes need a precondition; any value reaches the visibility check.
HEADERS = {
    "PATCH /v1/cases/{case_id}": {"If-Match": "*"},
    "PUT /v1/cases/{case_id}/legal": {"If-Match": '"0"'},
    "PATCH /v1/webhooks/{webhook_id}": {"If-Match": "*"},
    "PATCH /v1/cases/{case_id}/services/{service_id}": {"If-Match": '"1"'},
}


def body_for(key: str, caller: Partner) -> Any:
    def fill(value: Any) -> Any:
        if value == ORG:
            return str(caller.org.id)
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    return fill(BODIES.get(key))


def test_every_route_by_id_with_a_body_has_one_in_the_table() -> None:
    assert {r.key for r in BY_ID if r.has_body} == set(BODIES)


async def created(client: httpx.AsyncClient, who: Partner, url: str, body: Any) -> str:
    response = await client.post(url, json=body, headers=who.headers)
    assert response.status_code == 201, response.text
    value: str = response.json()["id"]
    return value


@pytest.fixture
async def lead_objects(
    client: httpx.AsyncClient, lead: Partner, clinic: Partner, case: dict[str, Any]
) -> dict[str, str]:
    """One object of each kind, owned by ``lead``: the ids every route by id needs."""
    ids = {"case_id": case["id"]}
    base = f"/v1/cases/{case['id']}"
    consent = body_for("POST /v1/cases/{case_id}/consents", clinic)
    ids["consent_id"] = await created(client, lead, f"{base}/consents", consent)
    ids["update_id"] = await created(
        client, lead, f"{base}/updates", BODIES["POST /v1/cases/{case_id}/updates"]
    )
    ids["follow_up_id"] = await created(
        client, lead, f"{base}/follow-ups", BODIES["POST /v1/cases/{case_id}/follow-ups"]
    )
    goal = body_for("POST /v1/cases/{case_id}/goals", lead)
    ids["goal_id"] = await created(client, lead, f"{base}/goals", goal)
    service = body_for("POST /v1/cases/{case_id}/services", lead)
    ids["service_id"] = await created(client, lead, f"{base}/services", service)
    placement = body_for("POST /v1/cases/{case_id}/placements", lead)
    ids["placement_id"] = await created(client, lead, f"{base}/placements", placement)
    referral = {
        "case_id": case["id"],
        "to_org_id": str(clinic.org.id),
        "service": "medical",
        "urgency": "high",
        "reason": "Infected wound needs treatment",
        "shared_categories": ["demographics", "medical"],
    }
    ids["referral_id"] = await created(client, lead, "/v1/referrals", referral)
    # A public address literal: accepted without a lookup, never called (no worker runs here).
    hook = {"url": "https://93.184.215.14/hooks", "event_types": ["*"]}
    ids["webhook_id"] = await created(client, lead, "/v1/webhooks", hook)
    ping = await client.post(f"/v1/webhooks/{ids['webhook_id']}/test", headers=lead.headers)
    assert ping.status_code == 202, ping.text
    ids["delivery_id"] = ping.json()["delivery_id"]
    return ids


@pytest.mark.parametrize("route", BY_ID, ids=ids_of(BY_ID))
async def test_another_organisations_object_is_404_like_a_missing_one(
    client: httpx.AsyncClient,
    stranger: Partner,
    lead_objects: dict[str, str],
    route: RestRoute,
) -> None:
    headers = stranger.headers_with(**HEADERS.get(route.key, {}))
    hidden = await client.request(
        route.method,
        route.url(lead_objects),
        json=body_for(route.key, stranger),
        headers=headers,
    )
    missing = await client.request(
        route.method,
        route.url(random_ids(route)),
        json=body_for(route.key, stranger),
        headers=headers,
    )
    assert_problem(hidden, 404, "not_found")
    assert hidden.json() == missing.json()
