"""Security review item 6, the smaller holes: crafted cursors, lax JSON and lax types, weak
If-Match tags, writes that change nothing, repeated erasure. Each is a 4xx that changes nothing
(or an idempotent no-op), never a 500 and never a silent coercion."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.params import Form

from app.api.json_body import StrictJSONRoute
from app.db.database import Database
from app.main import openapi_document
from app.schema_export import OPENAPI_PATH
from tests.factories import Factory, Partner, case_body
from tests.graphql.helpers import GRAPHQL, gql, only_error
from tests.helpers import api_routes, assert_problem

CASES = "/v1/cases"
NOW_ISO = "2026-11-01T09:00:00+00:00"


def crafted(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()


async def send(
    client: httpx.AsyncClient, method: str, url: str, raw: str | bytes, headers: dict[str, str]
) -> httpx.Response:
    return await client.request(
        method, url, content=raw, headers={**headers, "Content-Type": "application/json"}
    )


# -- 1. cursors -----------------------------------------------------------------------------------
# Every list, with a cursor of its own list name whose id is a number where a uuid belongs.
LISTS = {
    "/v1/organizations": ["organizations", "Lead Shelter", 5],
    "/v1/cases": ["cases", NOW_ISO, 5],
    "/v1/cases/{case_id}/access-log": ["access-log", NOW_ISO, 5, 0, 1],
    "/v1/cases/{case_id}/consents": ["consents", NOW_ISO, 5],
    "/v1/cases/{case_id}/updates": ["updates", NOW_ISO, 5],
    "/v1/cases/{case_id}/placements": ["placements", NOW_ISO, 5],
    "/v1/referrals": ["referrals", NOW_ISO, 5],
    "/v1/legal/testimony": ["testimony", NOW_ISO, 5],
    "/v1/placements/overdue-visits": ["overdue-visits", NOW_ISO, 5],
    "/v1/follow-ups": ["follow-ups", "2026-11-01", 5],
    "/v1/webhooks": ["webhooks", NOW_ISO, 5],
    # the cursor is read before the subscription is looked up: any id will do
    "/v1/webhooks/{webhook_id}/deliveries": ["webhook-deliveries", NOW_ISO, 5],
    "/v1/cases/{case_id}/goals": ["goals", NOW_ISO, 5],
    "/v1/cases/{case_id}/services": ["services", NOW_ISO, 5],
    "/v1/services/scheduled": ["scheduled-services", NOW_ISO, 5],
}


@pytest.mark.parametrize("path", sorted(LISTS))
async def test_cursor_with_a_number_for_the_uuid_is_422_not_500(
    client: httpx.AsyncClient, lead: Partner, case: dict[str, Any], path: str
) -> None:
    url = path.format(case_id=case["id"], webhook_id=uuid.uuid4())
    response = await client.get(url, params={"cursor": crafted(LISTS[path])}, headers=lead.headers)
    problem = assert_problem(response, 422, "validation_error")
    assert problem["errors"][0]["loc"] == ["query", "cursor"]


@pytest.mark.parametrize(
    "payload",
    [
        ["cases", NOW_ISO, {"id": 1}],
        ["cases", 1700000000, str(uuid.uuid4())],
        ["cases", "2026-11-01T09:00:00", str(uuid.uuid4())],
        ["cases", NOW_ISO],
        ["referrals", NOW_ISO, str(uuid.uuid4())],
        {"cases": NOW_ISO},
    ],
    ids=["object-id", "number-time", "naive-time", "arity", "other-list", "not-a-list"],
)
async def test_crafted_cursor_of_any_shape_is_422(
    client: httpx.AsyncClient, lead: Partner, payload: Any
) -> None:
    response = await client.get(CASES, params={"cursor": crafted(payload)}, headers=lead.headers)
    assert_problem(response, 422, "validation_error")


@pytest.mark.parametrize("cursor", ["%%%", "bm90IGpzb24", "YQ"])
async def test_cursor_that_is_not_base64_json_is_422(
    client: httpx.AsyncClient, lead: Partner, cursor: str
) -> None:
    response = await client.get(CASES, params={"cursor": cursor}, headers=lead.headers)
    assert_problem(response, 422, "validation_error")


def test_every_list_with_a_cursor_is_covered(app: FastAPI) -> None:
    paths: dict[str, Any] = openapi_document(app)["paths"]  # type: ignore[assignment]
    lists = {
        path
        for path, operations in paths.items()
        if any(p["name"] == "cursor" for p in operations.get("get", {}).get("parameters", []))
    }
    assert lists == set(LISTS)


GRAPHQL_LISTS = {
    "organizations": ("{ organizations(after: $after) { edges { cursor } } }", "organizations"),
    "cases": ("{ cases(after: $after) { edges { cursor } } }", "cases"),
    "referrals": ("{ referrals(after: $after) { edges { cursor } } }", "referrals"),
    "testimonyStatus": ("{ testimonyStatus(after: $after) { edges { cursor } } }", "testimony"),
    "case.updates": (
        "{ case(id: $id) { updates(after: $after) { edges { cursor } } } }",
        "updates",
    ),
    "case.consents": (
        "{ case(id: $id) { consents(after: $after) { edges { cursor } } } }",
        "consents",
    ),
    "case.referrals": (
        "{ case(id: $id) { referrals(after: $after) { edges { cursor } } } }",
        "referrals",
    ),
    "case.placements": (
        "{ case(id: $id) { placements(after: $after) { edges { cursor } } } }",
        "placements",
    ),
}


@pytest.mark.parametrize("field", sorted(GRAPHQL_LISTS))
async def test_graphql_after_with_a_number_for_the_uuid_is_a_validation_error(
    client: httpx.AsyncClient, lead: Partner, case: dict[str, Any], field: str
) -> None:
    selection, list_name = GRAPHQL_LISTS[field]
    key = "Lead Shelter" if list_name == "organizations" else NOW_ISO
    uses_id = "$id" in selection
    params = "$after: String" + (", $id: UUID!" if uses_id else "")
    variables: dict[str, Any] = {"after": crafted([list_name, key, 5])}
    if uses_id:
        variables["id"] = case["id"]
    result = await gql(client, lead, f"query Q({params}) {selection}", variables)
    error = only_error(result, "validation_error")
    assert error["extensions"]["errors"][0]["loc"] == ["after"]


# -- 2. strict JSON and strict types ----------------------------------------------------------
UPDATE = (
    '{"kind": "note", "category": "general", "occurred_at": "2026-11-20T10:00:00Z",'
    ' "summary": "Checked in.", "details": {"score": %s}}'
)


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
async def test_non_finite_number_in_update_details_is_422_not_stored_as_null(
    client: httpx.AsyncClient, lead: Partner, case: dict[str, Any], number: str
) -> None:
    url = f"{CASES}/{case['id']}/updates"
    response = await send(client, "POST", url, UPDATE % number, lead.headers)
    problem = assert_problem(response, 422, "validation_error")
    assert problem["errors"][0]["type"] == "json_invalid"
    timeline = (await client.get(url, headers=lead.headers)).json()["items"]
    assert all(item.get("details") != {"score": None} for item in timeline)
    fine = await send(client, "POST", url, UPDATE % "1.5e3", lead.headers)
    assert fine.status_code == 201, fine.text
    assert fine.json()["details"] == {"score": 1500.0}


async def test_duplicate_json_keys_are_422_not_last_wins(
    client: httpx.AsyncClient, lead: Partner, case: dict[str, Any]
) -> None:
    url = f"{CASES}/{case['id']}"
    before = (await client.get(url, headers=lead.headers)).json()
    raw = '{"risk_level": "low", "risk_level": "medium"}'
    response = await send(client, "PATCH", url, raw, lead.headers_with(**{"If-Match": "*"}))
    problem = assert_problem(response, 422, "validation_error")
    assert problem["errors"][0]["type"] == "json_invalid"
    assert "duplicate" in problem["errors"][0]["msg"]
    nested = (
        '{"kind": "note", "category": "general", "occurred_at": "2026-11-20T10:00:00Z",'
        ' "summary": "x", "details": {"a": 1, "a": 2}}'
    )
    created = await send(client, "POST", f"{url}/updates", nested, lead.headers)
    assert_problem(created, 422, "validation_error")
    after = (await client.get(url, headers=lead.headers)).json()
    assert after["version"] == before["version"] and after["risk_level"] == before["risk_level"]


def _survivor(**fields: Any) -> dict[str, Any]:
    body = case_body()
    body["survivor"] = {**body["survivor"], **fields}
    return body


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (_survivor(date_of_birth=631152000), ["body", "survivor", "date_of_birth"]),
        (_survivor(date_of_birth=631152000.0), ["body", "survivor", "date_of_birth"]),
        (
            _survivor(date_of_birth=None, estimated_birth_year="1990"),
            ["body", "survivor", "estimated_birth_year"],
        ),
        (
            case_body(exploitation={"types": ["labour"], "identified_on": 1700000000}),
            ["body", "exploitation", "identified_on"],
        ),
    ],
    ids=["unix-date", "float-date", "string-year", "unix-identified-on"],
)
async def test_case_intake_refuses_numbers_for_dates_and_strings_for_integers(
    client: httpx.AsyncClient, lead: Partner, body: dict[str, Any], loc: list[str]
) -> None:
    response = await client.post(CASES, json=body, headers=lead.headers)
    problem = assert_problem(response, 422, "validation_error")
    assert loc in [e["loc"] for e in problem["errors"]]
    assert (await client.get(CASES, headers=lead.headers)).json()["items"] == []


async def test_a_whole_number_written_with_a_fraction_is_that_integer(
    client: httpx.AsyncClient, lead: Partner
) -> None:
    """JSON has one number type (and JSON Schema's `integer` admits `1990.0`): the document
    allows it, so the server reads it as the integer; `1990.5` stays refused."""
    body = _survivor(date_of_birth=None, estimated_birth_year=1990.0)
    response = await client.post(CASES, json=body, headers=lead.headers)
    assert response.status_code == 201, response.text
    assert response.json()["survivor"]["estimated_birth_year"] == 1990
    body = _survivor(date_of_birth=None, estimated_birth_year=1990.5)
    problem = assert_problem(
        await client.post(CASES, json=body, headers=lead.headers), 422, "validation_error"
    )
    assert ["body", "survivor", "estimated_birth_year"] in [e["loc"] for e in problem["errors"]]


@pytest.mark.parametrize(
    "survivor",
    [{"date_of_birth": 631152000}, {"estimated_birth_year": "1990"}, {"gender": 1}],
)
async def test_case_patch_refuses_lax_types(
    client: httpx.AsyncClient, lead: Partner, case: dict[str, Any], survivor: dict[str, Any]
) -> None:
    response = await client.patch(
        f"{CASES}/{case['id']}",
        json={"survivor": survivor},
        headers=lead.headers_with(**{"If-Match": "*"}),
    )
    assert_problem(response, 422, "validation_error")


async def test_lax_booleans_integers_and_timestamps_are_422_elsewhere(
    client: httpx.AsyncClient, lead: Partner, case: dict[str, Any], factory: Factory
) -> None:
    me = "/v1/organizations/me"
    star = lead.headers_with(**{"If-Match": "*"})
    for patch in (
        {"populations": {"accepts_minors": "true"}},
        {"populations": {"accepts_minors": 1}},
        {"capacity": [{"service": "shelter", "available": "3", "maximum": 5}]},
    ):
        response = await client.patch(me, json=patch, headers=star)
        assert_problem(response, 422, "validation_error")
    consent = {
        "granted_by": ["survivor"],
        "recipient_kinds": ["medical_provider"],
        "categories": ["medical"],
        "purpose": "care",
        "obtained_at": 1762000000,
    }
    response = await client.post(
        f"{CASES}/{case['id']}/consents", json=consent, headers=lead.headers
    )
    assert_problem(response, 422, "validation_error")
    clinic = await factory.partner(name="Clinic", kind="medical_provider", services=["medical"])
    referral = {
        "case_id": case["id"],
        "to_org_id": str(clinic.org.id),
        "service": "medical",
        "urgency": "routine",
        "reason": "check-up",
        "transfer_lead": "false",
    }
    response = await client.post("/v1/referrals", json=referral, headers=lead.headers)
    assert_problem(response, 422, "validation_error")


async def test_iso_strings_still_validate_in_strict_mode(
    client: httpx.AsyncClient, lead: Partner, case: dict[str, Any]
) -> None:
    response = await client.patch(
        f"{CASES}/{case['id']}",
        json={
            "survivor": {"date_of_birth": "1998-02-03", "gender": "male"},
            "exploitation": {"identified_on": "2026-10-05"},
            "risk_level": "low",
        },
        headers=lead.headers_with(**{"If-Match": "*"}),
    )
    assert response.status_code == 200, response.text
    assert response.json()["survivor"]["date_of_birth"] == "1998-02-03"


def test_every_json_body_route_parses_strictly(app: FastAPI) -> None:
    bodies = [
        route
        for route in api_routes(app.routes)
        if route.body_field is not None
        and route.body_field is not None
        and not isinstance(route.body_field.field_info, Form)
    ]
    assert bodies
    lax = [route.path for route in bodies if not isinstance(route, StrictJSONRoute)]
    assert lax == []


@pytest.mark.parametrize(
    "raw",
    [
        '{"query": "{ me { id } }", "query": "{ me { name } }"}',
        '{"query": "query Q($x: JSON) { me { id } }", "variables": {"x": NaN}}',
        '{"query": "{ me { id } }", "variables": {"a": 1, "a": 2}}',
    ],
    ids=["duplicate-query", "nan-variable", "duplicate-variable"],
)
async def test_graphql_body_with_nan_or_duplicate_keys_is_400(
    client: httpx.AsyncClient, lead: Partner, raw: str
) -> None:
    response = await send(client, "POST", GRAPHQL, raw, lead.headers)
    assert_problem(response, 400, "bad_request")


# -- 3. If-Match ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "if_match",
    ['W/"{v}"', 'W/"{v}", W/"{v}"', '"0{v}"', '"{v}" garbage', "{v}", '"{v}', '*, "{v}"'],
)
async def test_weak_or_malformed_if_match_never_matches_is_412(
    client: httpx.AsyncClient, lead: Partner, case: dict[str, Any], if_match: str
) -> None:
    url = f"{CASES}/{case['id']}"
    version = case["version"]
    response = await client.patch(
        url,
        json={"risk_level": "low"},
        headers=lead.headers_with(**{"If-Match": if_match.format(v=version)}),
    )
    assert_problem(response, 412, "precondition_failed")
    assert (await client.get(url, headers=lead.headers)).json()["version"] == version


async def test_if_match_list_matches_when_any_strong_tag_does(
    client: httpx.AsyncClient, lead: Partner, case: dict[str, Any]
) -> None:
    url = f"{CASES}/{case['id']}"
    v = case["version"]
    stale = await client.patch(
        url,
        json={"risk_level": "low"},
        headers=lead.headers_with(**{"If-Match": f'"{v + 1}", W/"{v}", "other"'}),
    )
    assert_problem(stale, 412, "precondition_failed")
    ok = await client.patch(
        url,
        json={"risk_level": "low"},
        headers=lead.headers_with(**{"If-Match": f'"{v + 7}", , "{v}"'}),
    )
    assert ok.status_code == 200, ok.text
    assert ok.headers["ETag"] == f'"{v + 1}"'


async def test_weak_if_match_on_legal_put_and_organization_patch_is_412(
    client: httpx.AsyncClient, lead: Partner, case: dict[str, Any]
) -> None:
    legal = await client.put(
        f"{CASES}/{case['id']}/legal", json={}, headers=lead.headers_with(**{"If-Match": 'W/"0"'})
    )
    assert_problem(legal, 412, "precondition_failed")
    me = (await client.get("/v1/organizations/me", headers=lead.headers)).json()
    org = await client.patch(
        "/v1/organizations/me",
        json={"regions": ["TH-10"]},
        headers=lead.headers_with(**{"If-Match": f'W/"{me["version"]}"'}),
    )
    assert_problem(org, 412, "precondition_failed")


# -- 4. writes that change nothing ------------------------------------------------------------
@pytest.mark.parametrize("body", [{}, {"survivor": {}}, {"exploitation": {}}])
async def test_empty_case_patch_does_not_bump_version(
    client: httpx.AsyncClient, lead: Partner, case: dict[str, Any], body: dict[str, Any]
) -> None:
    url = f"{CASES}/{case['id']}"
    before = await client.get(url, headers=lead.headers)
    response = await client.patch(
        url, json=body, headers=lead.headers_with(**{"If-Match": before.headers["ETag"]})
    )
    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == before.headers["ETag"]
    assert response.json() == before.json()
    stale = await client.patch(url, json=body, headers=lead.headers_with(**{"If-Match": '"99"'}))
    assert_problem(stale, 412, "precondition_failed")


@pytest.mark.parametrize("body", [{}, {"populations": {}}])
async def test_empty_organization_patch_does_not_bump_version(
    client: httpx.AsyncClient, lead: Partner, body: dict[str, Any]
) -> None:
    me = "/v1/organizations/me"
    before = await client.get(me, headers=lead.headers)
    response = await client.patch(
        me, json=body, headers=lead.headers_with(**{"If-Match": before.headers["ETag"]})
    )
    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == before.headers["ETag"]
    assert response.json() == before.json()


async def test_identical_legal_put_does_not_bump_version(
    client: httpx.AsyncClient, lead: Partner, case: dict[str, Any]
) -> None:
    url = f"{CASES}/{case['id']}/legal"
    record = {
        "documents": [{"type": "passport", "status": "held_by_trafficker"}],
        "testimony": {"status": "in_preparation", "next_session_at": "2026-12-03T09:00:00Z"},
    }
    first = await client.put(url, json=record, headers=lead.headers_with(**{"If-Match": '"0"'}))
    assert first.status_code == 200, first.text
    again = await client.put(
        url, json=record, headers=lead.headers_with(**{"If-Match": first.headers["ETag"]})
    )
    assert again.status_code == 200, again.text
    assert again.headers["ETag"] == first.headers["ETag"] == '"1"'
    assert again.json() == first.json()
    timeline = (await client.get(f"{CASES}/{case['id']}/updates", headers=lead.headers)).json()
    assert len([u for u in timeline["items"] if u["category"] == "legal"]) == 1


# -- 5. repeated erasure and other repeated transitions ---------------------------------------
async def _audit_count(database: Database, case_id: str, action: str) -> int:
    async with database.pool.acquire() as conn:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE $1 = ANY(case_ids) AND action = $2",
            uuid.UUID(case_id),
            action,
        )
    return count


async def test_second_identity_erase_is_204_and_changes_nothing(
    client: httpx.AsyncClient, lead: Partner, case: dict[str, Any], database: Database
) -> None:
    url, erase = f"{CASES}/{case['id']}", f"{CASES}/{case['id']}/survivor-identity"
    assert (await client.delete(erase, headers=lead.headers)).status_code == 204
    first = (await client.get(url, headers=lead.headers)).json()
    assert (await client.delete(erase, headers=lead.headers)).status_code == 204
    second = (await client.get(url, headers=lead.headers)).json()
    assert second["identity_erased"] is True
    assert (second["version"], second["updated_at"]) == (first["version"], first["updated_at"])
    assert await _audit_count(database, case["id"], "case.identity_erase") == 1


async def test_repeated_close_and_revoke_are_409_and_change_nothing(
    client: httpx.AsyncClient, lead: Partner, case: dict[str, Any], database: Database
) -> None:
    consent = await client.post(
        f"{CASES}/{case['id']}/consents",
        json={
            "granted_by": ["survivor"],
            "recipient_kinds": ["medical_provider"],
            "categories": ["medical"],
            "purpose": "care",
            "obtained_at": "2026-11-01T09:00:00Z",
        },
        headers=lead.headers,
    )
    assert consent.status_code == 201, consent.text
    revoke = f"{CASES}/{case['id']}/consents/{consent.json()['id']}/revoke"
    revoked = await client.post(revoke, json={"reason": "asked"}, headers=lead.headers)
    assert revoked.status_code == 200
    again = await client.post(revoke, json={"reason": "again"}, headers=lead.headers)
    assert_problem(again, 409, "invalid_transition")
    url = f"{CASES}/{case['id']}"
    closed = await client.post(f"{url}/close", json={"reason": "done"}, headers=lead.headers)
    assert closed.status_code == 200
    reclosed = await client.post(f"{url}/close", json={"reason": "again"}, headers=lead.headers)
    assert_problem(reclosed, 409, "invalid_transition")
    now = (await client.get(url, headers=lead.headers)).json()
    assert now["version"] == closed.json()["version"]
    assert await _audit_count(database, case["id"], "case.close") == 1
    assert await _audit_count(database, case["id"], "consent.revoke") == 1


def _json_body_operations() -> list[tuple[str, str, list[str]]]:
    """(method, path with ids filled in, required scopes) of every operation taking JSON that
    a bearer token guards."""
    operations = []
    for path, item in json.loads(OPENAPI_PATH.read_text())["paths"].items():
        for method, operation in item.items():
            content = (operation.get("requestBody") or {}).get("content", {})
            security = operation.get("security") or []
            if "application/json" not in content or not security:
                continue
            scopes = [
                s for requirement in security for names in requirement.values() for s in names
            ]
            ids = {p["name"]: uuid.uuid4() for p in operation.get("parameters", [])}
            filled = path.format_map(ids)
            operations.append((method.upper(), filled, scopes))
    return operations


JSON_BODY_OPERATIONS = _json_body_operations()
NOT_EVEN_JSON = '{"survivor": {"given_name": "Fictional", '  # cut off: not a JSON text


@pytest.mark.parametrize(("method", "path", "scopes"), JSON_BODY_OPERATIONS)
async def test_the_token_is_checked_before_the_body_is_read(
    client: httpx.AsyncClient, factory: Factory, method: str, path: str, scopes: list[str]
) -> None:
    """No token is 401 and a token without the scope 403, whatever the body: nobody gets up to a
    MiB of JSON parsed and validated (nor learns what the body should be) without them."""
    response = await send(client, method, path, NOT_EVEN_JSON, {})
    assert response.status_code == 401, response.text
    if scopes:
        outsider = await factory.partner(scopes=["reports:read"])
        response = await send(client, method, path, NOT_EVEN_JSON, outsider.headers)
        assert response.status_code == 403, response.text


def test_every_json_body_operation_is_covered() -> None:
    assert len(JSON_BODY_OPERATIONS) >= 20
    assert ("POST", "/v1/cases", ["cases:write"]) in JSON_BODY_OPERATIONS


@pytest.mark.parametrize("depth", [100, 200, 253, 254, 255, 300, 500, 999, 1000, 1100])
@pytest.mark.parametrize("key", ["external_ref", "x"])  # with and without an "e" in the body
async def test_deeply_nested_json_is_422_not_500(
    client: httpx.AsyncClient, lead: Partner, database: Database, depth: int, key: str
) -> None:
    raw = f'{{"{key}": ' + "[" * depth + "1" + "]" * depth + "}"
    response = await send(client, "POST", CASES, raw, lead.headers)
    assert_problem(response, 422, "validation_error")
    async with database.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM cases") == 0


async def test_a_request_with_a_body_spends_one_unit_of_the_limit(
    client: httpx.AsyncClient, lead: Partner
) -> None:
    remaining = []
    for n in range(3):
        body = case_body(external_ref=f"LIMIT-{n}")
        response = await client.post(CASES, json=body, headers=lead.headers)
        assert response.status_code == 201, response.text
        remaining.append(int(response.headers["ratelimit"].split("r=")[1].split(";")[0]))
    assert remaining[0] - remaining[1] == 1 and remaining[1] - remaining[2] == 1
