"""Parity: for every access scenario that matters, GraphQL withholds exactly what REST withholds.

Each scenario builds the same small world through REST, then asks both APIs the same questions as
one partner: the case, its timeline and consents, the case list, the referral and the inbox. The
answers are normalised (field names, timestamps) and must be equal: an object REST answers 404 on
is null with a ``not_found`` error in GraphQL, and every field REST leaves out is null.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest

from app.db.database import Database
from tests.api.test_referrals import act, refer
from tests.factories import PLANTED, Factory, Partner, add_member
from tests.graphql.helpers import gql
from tests.helpers import consent, open_case

CASE_FIELDS = """
  id reference leadOrgId status role visibleCategories createdAt updatedAt version closedAt
  externalRef isMinor ageBand identityErased needs riskLevel closeReason
  survivor { gender nationality languages interpreterNeeded givenName familyName aliases dateOfBirth
             estimatedBirthYear contact { phone email address } }
  guardian { name relationship contact { phone email address } }
  exploitation { types identifiedOn country }
"""
REFERRAL_FIELDS = """
  id caseId caseReference fromOrgId toOrgId direction service urgency reason sharedCategories
  respondBy transferLead status statusReason outcome respondedAt startedAt endedAt createdAt
  updatedAt version
  preview { ageBand gender languages interpreterNeeded needs urgency isMinor exploitationTypes }
"""
EVERYTHING = f"""
query Everything($case: UUID!, $referral: UUID!) {{
  case(id: $case) {{
    {CASE_FIELDS}
    updates(first: 100) {{ edges {{ node {{ id }} }} }}
    consents(first: 100) {{ edges {{ node {{ id }} }} }}
    goals(first: 100) {{ edges {{ node {{ id }} }} }}
    services(first: 100) {{ edges {{ node {{ id }} }} }}
  }}
  cases(first: 100) {{ edges {{ node {{ id }} }} }}
  referral(id: $referral) {{ {REFERRAL_FIELDS} case {{ id }} }}
  referrals(first: 100) {{ edges {{ node {{ id }} }} }}
}}
"""
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT")
LISTS = ("updates", "consents", "goals", "services")  # under a case, by id


def snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Non-null leaves by dotted snake_case path; timestamps compared as instants."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}{snake(key)}."))
        return out
    if value is None:
        return {}
    if isinstance(value, str) and _TIMESTAMP.match(value):
        value = datetime.fromisoformat(value)
    return {prefix.rstrip("."): value}


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


async def rest_answers(
    client: httpx.AsyncClient, headers: dict[str, str], case_id: str, referral_id: str
) -> dict[str, Any]:
    async def get(path: str, **params: Any) -> tuple[int, Any]:
        response = await client.get(path, headers=headers, params=params)
        body = response.json()
        return response.status_code, body

    answers: dict[str, Any] = {}
    status, body = await get(f"/v1/cases/{case_id}")
    answers["case"] = flatten(body) if status == 200 else body["code"]
    for name in LISTS:
        status, body = await get(f"/v1/cases/{case_id}/{name}", limit=100)
        answers[name] = ids(body["items"]) if status == 200 else body["code"]
    answers["cases"] = ids((await get("/v1/cases", limit=100))[1]["items"])
    status, body = await get(f"/v1/referrals/{referral_id}")
    answers["referral"] = flatten(body) if status == 200 else body["code"]
    answers["referrals"] = ids((await get("/v1/referrals", limit=100))[1]["items"])
    return answers


async def graphql_answers(
    client: httpx.AsyncClient, headers: dict[str, str], case_id: str, referral_id: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    result = await gql(client, headers, EVERYTHING, {"case": case_id, "referral": referral_id})
    data = result["data"]
    errors = {e["path"][0]: e["extensions"]["code"] for e in result.get("errors", [])}
    assert set(errors) <= {"case", "referral"}, result["errors"]
    answers: dict[str, Any] = {}
    case = data["case"]
    if case is None:
        answers["case"] = errors["case"]
        answers.update((name, errors["case"]) for name in LISTS)
    else:
        for name in LISTS:
            answers[name] = [e["node"]["id"] for e in case.pop(name)["edges"]]
        answers["case"] = flatten(case)
    answers["cases"] = [e["node"]["id"] for e in data["cases"]["edges"]]
    referral = data["referral"]
    extra: dict[str, Any] = {}
    if referral is None:
        answers["referral"] = errors["referral"]
    else:
        extra["referral_case"] = referral.pop("case")
        answers["referral"] = flatten(referral)
    answers["referrals"] = [e["node"]["id"] for e in data["referrals"]["edges"]]
    return answers, extra


@dataclass
class World:
    lead: Partner
    clinic: Partner
    stranger: Partner
    case: dict[str, Any]
    referral: dict[str, Any]


async def world(client: httpx.AsyncClient, factory: Factory) -> World:
    lead = await factory.partner(name="Parity Lead Shelter")
    clinic = await factory.partner(
        name="Parity Clinic", kind="medical_provider", services=["medical"]
    )
    stranger = await factory.partner(name="Parity Stranger")
    case = await open_case(client, lead)
    for category, summary in (
        ("medical", "Planted-Medical-Note"),
        ("legal", "Planted-Legal-Note"),
        ("general", "Planted-General-Note"),
    ):
        response = await client.post(
            f"/v1/cases/{case['id']}/updates",
            json={
                "kind": "note",
                "category": category,
                "occurred_at": "2026-11-02T10:00:00Z",
                "summary": summary,
            },
            headers=lead.headers,
        )
        assert response.status_code == 201, response.text
    for category in ("medical", "legal"):
        goal = await client.post(
            f"/v1/cases/{case['id']}/goals",
            json={"category": category, "title": "A goal", "owner_org_id": str(lead.org.id)},
            headers=lead.headers,
        )
        assert goal.status_code == 201, goal.text
        service = await client.post(
            f"/v1/cases/{case['id']}/services",
            json={
                "service": category,
                "category": category,
                "type": "appointment",
                "status": "scheduled",
                "scheduled_at": "2027-01-02T10:00:00Z",
                "provider_org_id": str(lead.org.id),
                "goal_id": goal.json()["id"],
            },
            headers=lead.headers,
        )
        assert service.status_code == 201, service.text
    referral = await refer(
        client, lead, case, clinic, shared_categories=["demographics", "medical"]
    )
    return World(lead, clinic, stranger, case, referral)


Viewer = Callable[[httpx.AsyncClient, Factory, Database, World], Awaitable[dict[str, str]]]


async def as_lead(client: httpx.AsyncClient, factory: Factory, db: Database, w: World) -> Any:
    return w.lead.headers


async def as_lead_with_narrow_token(
    client: httpx.AsyncClient, factory: Factory, db: Database, w: World
) -> Any:
    token = factory.token(w.lead.client, "cases:read referrals:read")
    return {"Authorization": f"Bearer {token}"}


async def as_stranger(client: httpx.AsyncClient, factory: Factory, db: Database, w: World) -> Any:
    return w.stranger.headers


async def as_pending_receiver(
    client: httpx.AsyncClient, factory: Factory, db: Database, w: World
) -> Any:
    return w.clinic.headers


async def as_care_team_with_consent(
    client: httpx.AsyncClient, factory: Factory, db: Database, w: World
) -> Any:
    assert (await act(client, w.clinic, w.referral, "accept")).status_code == 200
    return w.clinic.headers


async def as_care_team_after_revocation(
    client: httpx.AsyncClient, factory: Factory, db: Database, w: World
) -> Any:
    assert (await act(client, w.clinic, w.referral, "accept")).status_code == 200
    consents = await client.get(f"/v1/cases/{w.case['id']}/consents", headers=w.lead.headers)
    for item in consents.json()["items"]:
        response = await client.post(
            f"/v1/cases/{w.case['id']}/consents/{item['id']}/revoke",
            json={"reason": "survivor withdrew consent"},
            headers=w.lead.headers,
        )
        assert response.status_code == 200
    return w.clinic.headers


async def as_care_team_without_consent(
    client: httpx.AsyncClient, factory: Factory, db: Database, w: World
) -> Any:
    # On the care team with identity and legal shared, but no consent ever covered them.
    other = await factory.partner(name="Parity Legal Aid", kind="legal_partner")
    await add_member(db, uuid.UUID(w.case["id"]), other.org.id, ["identity", "legal"])
    return other.headers


async def as_care_team_with_kind_consent(
    client: httpx.AsyncClient, factory: Factory, db: Database, w: World
) -> Any:
    other = await factory.partner(name="Parity Legal Aid", kind="legal_partner")
    await add_member(db, uuid.UUID(w.case["id"]), other.org.id, ["identity", "legal"])
    await consent(
        client,
        w.lead,
        w.case["id"],
        other,
        ["legal"],
        recipient_org_id=None,
        recipient_kinds=["legal_partner"],
    )
    return other.headers


SCENARIOS: dict[str, Viewer] = {
    "lead": as_lead,
    "lead_with_narrow_token": as_lead_with_narrow_token,
    "stranger": as_stranger,
    "pending_referral_receiver": as_pending_receiver,
    "care_team_with_consent": as_care_team_with_consent,
    "care_team_after_revocation": as_care_team_after_revocation,
    "care_team_without_consent": as_care_team_without_consent,
    "care_team_with_consent_by_kind": as_care_team_with_kind_consent,
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_graphql_withholds_exactly_what_rest_withholds(
    client: httpx.AsyncClient, factory: Factory, database: Database, scenario: str
) -> None:
    w = await world(client, factory)
    headers = await SCENARIOS[scenario](client, factory, database, w)
    rest = await rest_answers(client, headers, w.case["id"], w.referral["id"])
    graphql, extra = await graphql_answers(client, headers, w.case["id"], w.referral["id"])
    assert graphql == rest
    if isinstance(rest["referral"], dict):
        # Referral.case is there exactly when REST lets the caller read the case.
        case_visible = isinstance(rest["case"], dict)
        assert (extra["referral_case"] is not None) == case_visible
    if not isinstance(rest["case"], dict):
        assert rest["case"] == "not_found"
    return_text = str(graphql) + str(extra)
    if scenario in ("stranger", "pending_referral_receiver", "care_team_without_consent"):
        assert not any(p in return_text for p in PLANTED)


async def test_what_each_scenario_sees(client: httpx.AsyncClient, factory: Factory) -> None:
    """A sanity check that the scenarios differ the way the policy says (so that parity above is
    not parity of nothing)."""
    w = await world(client, factory)
    query = '{ case(id: "%s") { visibleCategories updates { edges { node { summary } } } } }'
    pending = await gql(client, w.clinic, query % w.case["id"])
    assert pending["data"]["case"] is None
    await act(client, w.clinic, w.referral, "accept")
    member = (await gql(client, w.clinic, query % w.case["id"]))["data"]["case"]
    assert member["visibleCategories"] == ["demographics", "medical"]
    summaries = [e["node"]["summary"] for e in member["updates"]["edges"]]
    assert "Planted-Medical-Note" in summaries
    assert "Planted-Legal-Note" not in summaries
    lead = (await gql(client, w.lead, query % w.case["id"]))["data"]["case"]
    assert len(lead["visibleCategories"]) == 9
