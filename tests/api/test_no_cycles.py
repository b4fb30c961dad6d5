"""Every kind of request of a partner's day (the soak's mix) frees what it made when it ends:
nothing of it is left in a reference cycle for the garbage collector. Such leftovers are not a
leak, but they move into the oldest generation, and each full collection (which then walks all
of them, with the event loop stopped) took up to 100 ms on a busy server: every request in
flight waited for it."""

from __future__ import annotations

import gc
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.main import GC_YOUNG_THRESHOLD
from tests.factories import Partner
from tests.helpers import open_case

Call = Callable[[httpx.AsyncClient, Partner, Partner, dict[str, Any]], Awaitable[httpx.Response]]

REFERRAL = {
    "to_org_id": None,
    "service": "medical",
    "urgency": "routine",
    "reason": "Follow-up care agreed with the survivor",
    "shared_categories": ["demographics"],
}


async def _referral(client: httpx.AsyncClient, lead: Partner, clinic: Partner, case_id: str) -> str:
    body = {**REFERRAL, "case_id": case_id, "to_org_id": str(clinic.org.id)}
    response = await client.post("/v1/referrals", json=body, headers=lead.headers)
    assert response.status_code == 201, response.text
    referral_id: str = response.json()["id"]
    return referral_id


def _keyed(partner: Partner) -> dict[str, str]:
    return partner.headers_with(**{"Idempotency-Key": str(uuid.uuid4())})


async def case_read(c: httpx.AsyncClient, lead: Partner, _: Partner, case: dict[str, Any]) -> Any:
    return await c.get(f"/v1/cases/{case['id']}", headers=lead.headers)


async def care_plan(c: httpx.AsyncClient, lead: Partner, _: Partner, case: dict[str, Any]) -> Any:
    return await c.get(f"/v1/cases/{case['id']}/care-plan", headers=lead.headers)


async def inbox(c: httpx.AsyncClient, _: Partner, clinic: Partner, __: dict[str, Any]) -> Any:
    return await c.get("/v1/referrals?direction=incoming&limit=50", headers=clinic.headers)


async def events(c: httpx.AsyncClient, lead: Partner, _: Partner, __: dict[str, Any]) -> Any:
    return await c.get("/v1/events?limit=50", headers=lead.headers)


async def update(c: httpx.AsyncClient, lead: Partner, _: Partner, case: dict[str, Any]) -> Any:
    body = {
        "kind": "note",
        "category": "general",
        "occurred_at": "2026-11-30T09:00:00Z",
        "summary": "Weekly check-in held; plan unchanged",
    }
    return await c.post(f"/v1/cases/{case['id']}/updates", json=body, headers=_keyed(lead))


async def goal(c: httpx.AsyncClient, lead: Partner, _: Partner, case: dict[str, Any]) -> Any:
    body = {"category": "general", "title": "Attend the next group session"}
    return await c.post(f"/v1/cases/{case['id']}/goals", json=body, headers=_keyed(lead))


async def case_patch(c: httpx.AsyncClient, lead: Partner, _: Partner, case: dict[str, Any]) -> Any:
    current = await c.get(f"/v1/cases/{case['id']}", headers=lead.headers)
    return await c.patch(
        f"/v1/cases/{case['id']}",
        json={"risk_level": "high"},
        headers=lead.headers_with(**{"If-Match": current.headers["etag"]}),
    )


async def referral_create(
    c: httpx.AsyncClient, lead: Partner, clinic: Partner, case: dict[str, Any]
) -> Any:
    body = {**REFERRAL, "case_id": case["id"], "to_org_id": str(clinic.org.id)}
    return await c.post("/v1/referrals", json=body, headers=_keyed(lead))


async def referral_accept(
    c: httpx.AsyncClient, lead: Partner, clinic: Partner, case: dict[str, Any]
) -> Any:
    referral_id = await _referral(c, lead, clinic, case["id"])
    return await c.post(f"/v1/referrals/{referral_id}/accept", headers=clinic.headers)


async def graphql(c: httpx.AsyncClient, lead: Partner, _: Partner, __: dict[str, Any]) -> Any:
    query = "{ cases(first: 20) { edges { node { id referrals { edges { node { id } } } } } } }"
    return await c.post("/graphql", json={"query": query}, headers=lead.headers)


async def refused(c: httpx.AsyncClient, lead: Partner, _: Partner, __: dict[str, Any]) -> Any:
    """An error answer (a problem document built from an exception) leaves nothing either."""
    return await c.get(f"/v1/cases/{uuid.uuid4()}", headers=lead.headers)


CALLS: dict[str, Call] = {
    "case-read": case_read,
    "care-plan": care_plan,
    "inbox": inbox,
    "events": events,
    "update": update,
    "goal": goal,
    "case-patch": case_patch,
    "referral-create": referral_create,
    "referral-accept": referral_accept,
    "graphql": graphql,
    "not-found": refused,
}


@pytest.mark.parametrize("name", list(CALLS))
async def test_a_request_leaves_no_reference_cycle(
    name: str, client: httpx.AsyncClient, lead: Partner, clinic: Partner
) -> None:
    call = CALLS[name]
    case = await open_case(client, lead)
    await _referral(client, lead, clinic, case["id"])  # something in the inbox and the page
    response = await call(client, lead, clinic, case)  # warm: caches, prepared statements
    assert response.status_code < 500, response.text
    sent = {"requests": 0}

    async def count(_: httpx.Request) -> None:
        sent["requests"] += 1

    client.event_hooks["request"].append(count)
    gc.collect()
    gc.disable()
    try:
        for _ in range(3):
            response = await call(client, lead, clinic, case)
            assert response.status_code < 500, response.text
        found = gc.collect()
    finally:
        gc.enable()
        client.event_hooks["request"].remove(count)
    # a request's own objects run into the hundreds or thousands (rows, views, the response);
    # what is found is httpx's: about 23 objects per request (its response and stream refer
    # to each other) on the test client's side
    assert found < 30 * sent["requests"], (name, found, sent)


async def test_the_server_collects_its_youngest_objects_less_often(app: FastAPI) -> None:
    """What the above allows (app.main.GC_YOUNG_THRESHOLD): set at start-up, after the freeze."""
    threshold = gc.get_threshold()
    try:
        async with app.router.lifespan_context(app):
            assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()  # (the start-up froze the test process's objects too)
