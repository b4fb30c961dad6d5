"""Every creating endpoint answers a retry through ``Idempotent.create``: the same status, body
and headers (Location, ETag) with ``Idempotent-Replayed``, nothing created twice, and 422 for the
key reused with another body."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from app.db.database import Database
from tests.factories import Factory, Partner, add_member, case_body
from tests.helpers import CASES, assert_problem, consent, open_case

Body = dict[str, Any]


def _consent(case: Body, clinic: Partner) -> Body:
    return {
        "granted_by": ["survivor"],
        "recipient_org_id": str(clinic.org.id),
        "categories": ["medical"],
        "purpose": "medical follow-up",
        "obtained_at": "2026-11-01T09:00:00Z",
    }


def _update(case: Body, clinic: Partner) -> Body:
    return {
        "kind": "service_delivered",
        "category": "medical",
        "occurred_at": "2026-11-20T10:00:00Z",
        "summary": "Wound dressing changed; follow-up in a week.",
    }


def _referral(case: Body, clinic: Partner) -> Body:
    return {
        "case_id": case["id"],
        "to_org_id": str(clinic.org.id),
        "service": "medical",
        "urgency": "high",
        "reason": "Infected wound needs treatment",
        "shared_categories": ["demographics", "medical"],
    }


def _case(case: Body, clinic: Partner) -> Body:
    return case_body(external_ref="HL-2026-0002")


# (path, body, table counted, headers the first response carries)
ENDPOINTS: dict[str, tuple[Callable[[Body], str], Callable[[Body, Partner], Body], str, tuple[str, ...]]] = {  # noqa: E501
    "case": (lambda c: CASES, _case, "cases", ("location", "etag")),
    "consent": (lambda c: f"{CASES}/{c['id']}/consents", _consent, "consents", ("location",)),
    "update": (lambda c: f"{CASES}/{c['id']}/updates", _update, "case_updates", ("location",)),
    "referral": (lambda c: "/v1/referrals", _referral, "referrals", ("location",)),
}  # fmt: skip


async def _count(database: Database, table: str) -> int:
    async with database.pool.acquire() as conn:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
async def test_idempotent_create_replays_status_body_and_headers_once_per_key(
    client: httpx.AsyncClient, factory: Factory, database: Database, endpoint: str
) -> None:
    path, make_body, table, carried = ENDPOINTS[endpoint]
    lead = await factory.partner(name="Harbor Shelter", services=["shelter"])
    clinic = await factory.partner(
        name="River Clinic", kind="medical_provider", services=["medical"]
    )
    case = await open_case(client, lead)
    if endpoint == "referral":
        await consent(client, lead, case["id"], clinic, ["medical"])
    url, body = path(case), make_body(case, clinic)
    before = await _count(database, table)
    headers = lead.headers_with(**{"Idempotency-Key": f"retry-{endpoint}"})

    first = await client.post(url, json=body, headers=headers)
    again = await client.post(url, json=body, headers=headers)

    assert first.status_code == again.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    for name in carried:
        assert again.headers[name] == first.headers[name]
    assert await _count(database, table) == before + 1

    # The same JSON written differently is another request (the fingerprint covers the bytes).
    reused = await client.post(
        url,
        content=json.dumps(body, indent=2),
        headers={**headers, "Content-Type": "application/json"},
    )
    assert_problem(reused, 422, "idempotency_key_reused")
    assert await _count(database, table) == before + 1


async def test_a_replay_for_a_caller_who_no_longer_sees_the_case_is_404(
    client: httpx.AsyncClient, factory: Factory, database: Database
) -> None:
    """The stored answer is not a way around the access policy: once the caller may not see
    the case, its retry is the 404 of any read, and nothing is created."""
    lead = await factory.partner(name="Harbor Shelter", services=["shelter"])
    clinic = await factory.partner(
        name="River Clinic", kind="medical_provider", services=["medical"]
    )
    case = await open_case(client, lead)
    await consent(client, lead, case["id"], clinic, ["medical"])
    await add_member(database, uuid.UUID(case["id"]), clinic.org.id, ["medical"])
    url, body = f"{CASES}/{case['id']}/updates", _update(case, clinic)
    headers = clinic.headers_with(**{"Idempotency-Key": "clinic-update-1"})
    first = await client.post(url, json=body, headers=headers)
    assert first.status_code == 201, first.text
    async with database.pool.acquire() as conn:  # the clinic's part in the care ends
        await conn.execute("DELETE FROM case_members WHERE org_id = $1", clinic.org.id)
    before = await _count(database, "case_updates")

    again = await client.post(url, json=body, headers=headers)

    assert_problem(again, 404, "not_found")
    assert "idempotent-replayed" not in again.headers
    assert await _count(database, "case_updates") == before


async def test_a_retry_after_the_identity_was_erased_is_refused_not_run_again(
    client: httpx.AsyncClient, factory: Factory, database: Database
) -> None:
    """Erasure destroys the stored answers of creates in the case (they hold its free text), but
    not their keys: a retry gets 409 ``idempotency_response_erased`` and creates nothing, where
    running it again would make a second resource and bring the erased text back. A case's
    creation is rendered afresh anyway, so its retry still answers, as the case is now."""
    lead = await factory.partner(name="Harbor Shelter", services=["shelter"])
    clinic = await factory.partner(
        name="River Clinic", kind="medical_provider", services=["medical"]
    )
    opened = lead.headers_with(**{"Idempotency-Key": "intake-erased"})
    case = (await client.post(CASES, json=case_body(), headers=opened)).json()
    url, body = f"{CASES}/{case['id']}/updates", _update(case, clinic)
    headers = lead.headers_with(**{"Idempotency-Key": "update-erased"})
    first = await client.post(url, json=body, headers=headers)
    assert first.status_code == 201, first.text
    erased = await client.delete(f"{CASES}/{case['id']}/survivor-identity", headers=lead.headers)
    assert erased.status_code == 204, erased.text
    before = await _count(database, "case_updates")

    again = await client.post(url, json=body, headers=headers)

    problem = assert_problem(again, 409, "idempotency_response_erased")
    assert "erased" in problem["detail"]
    assert await _count(database, "case_updates") == before
    assert "Wound" not in again.text
    # Another body with that key is still the reuse it always was.
    other = await client.post(url, json={**body, "summary": "Other"}, headers=headers)
    assert_problem(other, 422, "idempotency_key_reused")
    # The case's creation replays as the case now reads: erased.
    replay = await client.post(CASES, json=case_body(), headers=opened)
    assert replay.status_code == 201, replay.text
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["identity_erased"] is True


async def test_a_replay_is_refused_as_a_read_of_what_was_made_would_be(
    client: httpx.AsyncClient, factory: Factory, database: Database
) -> None:
    """A care-team member's goal in a category whose consent was revoked since: its `GET` is
    404, and so is the retry (as GraphQL's retry is); while it may read it, the retry is audited
    as that read, in the goal's category."""
    from tests.api.test_goals import goal_body

    lead = await factory.partner(name="Harbor Shelter", services=["shelter"])
    clinic = await factory.partner(
        name="River Clinic", kind="medical_provider", services=["medical"]
    )
    case = await open_case(client, lead)
    given = await consent(client, lead, case["id"], clinic, ["medical"])
    await add_member(database, uuid.UUID(case["id"]), clinic.org.id, ["medical"])
    url, body = f"{CASES}/{case['id']}/goals", goal_body(clinic)
    headers = clinic.headers_with(**{"Idempotency-Key": "clinic-goal-1"})
    first = await client.post(url, json=body, headers=headers)
    assert first.status_code == 201, first.text

    again = await client.post(url, json=body, headers=headers)
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    async with database.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT action, categories FROM audit_log WHERE org_id = $1 AND action LIKE 'goal.%'",
            clinic.org.id,
        )
    assert sorted((r["action"], r["categories"]) for r in rows) == [
        ("goal.create", ["medical"]),
        ("goal.read", ["medical"]),
    ]

    revoked = await client.post(
        f"{CASES}/{case['id']}/consents/{given['id']}/revoke",
        json={"reason": "The survivor withdrew consent"},
        headers=lead.headers,
    )
    assert revoked.status_code == 200, revoked.text
    goals_before = await _count(database, "goals")
    assert (
        await client.get(f"{url}/{first.json()['id']}", headers=clinic.headers)
    ).status_code == 404

    refused = await client.post(url, json=body, headers=headers)

    assert_problem(refused, 404, "not_found")
    assert "idempotent-replayed" not in refused.headers
    assert await _count(database, "goals") == goals_before
