"""Referrals never outlive their lead or their open case (CONTRACT "Referral outcomes (coded)").

When a case closes or its lead changes, the hub withdraws what is still pending; a transition on a
referral whose sender no longer leads, or on a closed case, is 409; every transition takes the
case row lock first, so of two racing lead transfers exactly one wins.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from app.db.database import Database
from app.domain.referral_rules import HubWithdrawal
from tests.api.test_referrals import REF, act, refer
from tests.factories import PLANTED, Factory, Partner
from tests.graphql.helpers import data_of, gql, only_error
from tests.helpers import assert_problem, consent, open_case

EVERYTHING = [
    "identity", "exploitation", "medical", "counseling", "legal", "education", "placement",
    "general",
]  # fmt: skip


@pytest.fixture
async def g(factory: Factory) -> Partner:
    return await factory.partner(
        name="Gulf Shelter", services=["shelter"], capacity=[("shelter", 3, 10)]
    )


@pytest.fixture
async def h(factory: Factory) -> Partner:
    return await factory.partner(
        name="Hill Shelter", services=["shelter"], capacity=[("shelter", 3, 10)]
    )


async def transfer(
    client: httpx.AsyncClient, lead: Partner, case: dict[str, Any], to: Partner
) -> dict[str, Any]:
    return await refer(
        client, lead, case, to, service="shelter", transfer_lead=True, shared_categories=EVERYTHING
    )


async def get_referral(
    client: httpx.AsyncClient, who: Partner, referral: dict[str, Any]
) -> dict[str, Any]:
    response = await client.get(f"{REF}/{referral['id']}", headers=who.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def available(client: httpx.AsyncClient, partner: Partner) -> int:
    me = (await client.get("/v1/organizations/me", headers=partner.headers)).json()
    places: int = me["capacity"][0]["available"]
    return places


async def sql(database: Database, query: str, *args: Any) -> Any:
    async with database.pool.acquire() as conn:
        return await conn.fetch(query, *args)


async def audit_actions(database: Database, partner: Partner) -> list[str]:
    # Chronological across the organisation's chains (seq orders one chain only).
    rows = await sql(
        database,
        "SELECT action FROM audit_log WHERE org_id = $1 ORDER BY occurred_at, chain, seq",
        partner.org.id,
    )
    return [r["action"] for r in rows]


async def timeline(
    client: httpx.AsyncClient, who: Partner, case: dict[str, Any]
) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/cases/{case['id']}/updates", headers=who.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def assert_withdrawn_by_hub(referral: dict[str, Any], why: HubWithdrawal) -> None:
    assert referral["status"] == "withdrawn"
    assert referral["status_reason"] == why.value
    assert referral["ended_at"] is not None
    for planted in PLANTED:
        assert planted not in referral["status_reason"]


class TestLeadChange:
    async def test_second_transfer_accept_after_lead_changed_is_409(
        self,
        client: httpx.AsyncClient,
        case: dict[str, Any],
        lead: Partner,
        g: Partner,
        h: Partner,
        database: Database,
    ) -> None:
        to_g = await transfer(client, lead, case, g)
        to_h = await transfer(client, lead, case, h)
        assert (await act(client, g, to_g, "accept")).status_code == 200
        problem = assert_problem(await act(client, h, to_h, "accept"), 409, "invalid_transition")
        assert problem["detail"] == "The referral is withdrawn; it cannot be accepted"
        # G still leads its case; H never got it and no place of H's was taken.
        as_g = (await client.get(f"/v1/cases/{case['id']}", headers=g.headers)).json()
        assert as_g["role"] == "lead" and as_g["lead_org_id"] == str(g.org.id)
        assert_problem(
            await client.get(f"/v1/cases/{case['id']}", headers=h.headers), 404, "not_found"
        )
        assert await available(client, h) == 3
        # The hub withdrew H's transfer when the lead changed: audited and on the timeline.
        assert_withdrawn_by_hub(await get_referral(client, h, to_h), HubWithdrawal.LEAD_CHANGED)
        entries = [
            e for e in await timeline(client, g, case) if e["details"]["referral_id"] == to_h["id"]
        ]
        assert [e["summary"] for e in entries] == [
            "Referral for shelter sent",
            "Referral for shelter withdrawn",
        ]
        assert entries[-1]["category"] == "placement"  # a shelter referral is placement data
        assert entries[-1]["details"] == {
            "referral_id": to_h["id"],
            "status": "withdrawn",
            "service": "shelter",
            "withdrawn_by": "hub",
            "cause": "lead_changed",
        }
        assert entries[-1]["author_org_id"] == str(g.org.id)  # whose action caused it
        actions = await audit_actions(database, g)
        at = actions.index("referral.accept")
        assert actions[at : at + 2] == ["referral.accept", "referral.hub_withdraw"]

    async def test_concurrent_transfer_accepts_exactly_one_wins(
        self,
        client: httpx.AsyncClient,
        lead: Partner,
        g: Partner,
        h: Partner,
        database: Database,
    ) -> None:
        for i in range(3):  # a few rounds: each request has its own pooled connection
            case = await open_case(client, lead, external_ref=f"RACE-{i}")
            to_g = await transfer(client, lead, case, g)
            to_h = await transfer(client, lead, case, h)
            before = await available(client, g) + await available(client, h)
            accepts = await asyncio.gather(
                act(client, g, to_g, "accept"), act(client, h, to_h, "accept")
            )
            assert sorted(r.status_code for r in accepts) == [200, 409], [r.text for r in accepts]
            loser = next(r for r in accepts if r.status_code == 409)
            assert loser.json()["code"] == "invalid_transition"
            winner = g if accepts[0].status_code == 200 else h
            rows = await sql(
                database,
                "SELECT lead_org_id FROM cases WHERE id = $1",
                uuid.UUID(case["id"]),
            )
            assert rows[0]["lead_org_id"] == winner.org.id
            statuses = await sql(
                database,
                "SELECT status, count(*) AS n FROM referrals WHERE case_id = $1 GROUP BY status",
                uuid.UUID(case["id"]),
            )
            assert {r["status"]: r["n"] for r in statuses} == {"accepted": 1, "withdrawn": 1}
            members = await sql(
                database,
                "SELECT org_id FROM case_members WHERE case_id = $1 AND left_at IS NULL",
                uuid.UUID(case["id"]),
            )
            assert [m["org_id"] for m in members] == [lead.org.id]  # the former lead, once
            after = await available(client, g) + await available(client, h)
            assert after == before - 1  # one place taken, once

    async def test_pending_referral_sent_before_transfer_is_withdrawn_by_hub(
        self,
        client: httpx.AsyncClient,
        case: dict[str, Any],
        lead: Partner,
        g: Partner,
        clinic: Partner,
    ) -> None:
        ordinary = await refer(client, lead, case, clinic)
        to_g = await transfer(client, lead, case, g)
        assert (await act(client, g, to_g, "accept")).status_code == 200
        assert_problem(await act(client, clinic, ordinary, "accept"), 409, "invalid_transition")
        assert_withdrawn_by_hub(
            await get_referral(client, lead, ordinary), HubWithdrawal.LEAD_CHANGED
        )
        # Its sender no longer leads: it cannot withdraw it again either.
        assert_problem(
            await act(client, lead, ordinary, "withdraw", reason="x"), 409, "invalid_transition"
        )
        assert_problem(
            await client.get(f"/v1/cases/{case['id']}", headers=clinic.headers), 404, "not_found"
        )

    async def test_stale_pending_referral_of_former_lead_is_409(
        self,
        client: httpx.AsyncClient,
        case: dict[str, Any],
        lead: Partner,
        g: Partner,
        clinic: Partner,
        database: Database,
    ) -> None:
        # A pending referral left over from before the hub withdrew them (or written behind its
        # back): the check at transition time refuses it on its own.
        ordinary = await refer(client, lead, case, clinic)
        await sql(
            database, "UPDATE cases SET lead_org_id = $2 WHERE id = $1", uuid.UUID(case["id"]),
            g.org.id,
        )  # fmt: skip
        for who, action, body in (
            (clinic, "accept", {}),
            (clinic, "decline", {"reason": "x"}),
            (lead, "withdraw", {"reason": "x"}),
        ):
            problem = assert_problem(
                await act(client, who, ordinary, action, **body), 409, "invalid_transition"
            )
            assert problem["detail"] == "The referral's sender no longer leads the case"
        assert (await get_referral(client, lead, ordinary))["status"] == "pending"

    async def test_referral_created_while_transfer_accepted_never_stays_pending(
        self,
        client: httpx.AsyncClient,
        lead: Partner,
        g: Partner,
        clinic: Partner,
        database: Database,
    ) -> None:
        for i in range(3):
            case = await open_case(client, lead, external_ref=f"CREATE-RACE-{i}")
            await consent(client, lead, case["id"], clinic, ["medical"])
            to_g = await transfer(client, lead, case, g)
            body = {
                "case_id": case["id"],
                "to_org_id": str(clinic.org.id),
                "service": "medical",
                "urgency": "high",
                "reason": "Wound care",
                "shared_categories": ["medical"],
            }
            created, accepted = await asyncio.gather(
                client.post(REF, json=body, headers=lead.headers),
                act(client, g, to_g, "accept"),
            )
            assert accepted.status_code == 200
            assert created.status_code in (201, 404), created.text  # 404: no longer the lead
            pending = await sql(
                database,
                "SELECT id FROM referrals WHERE case_id = $1 AND status = 'pending'",
                uuid.UUID(case["id"]),
            )
            assert pending == []

    async def test_consent_revoked_while_transfer_accepted_never_hands_over_uncovered(
        self, client: httpx.AsyncClient, lead: Partner, g: Partner
    ) -> None:
        for i in range(3):
            case = await open_case(client, lead, external_ref=f"REVOKE-RACE-{i}")
            to_g = await transfer(client, lead, case, g)
            consents = (
                await client.get(f"/v1/cases/{case['id']}/consents", headers=lead.headers)
            ).json()["items"]
            revoked, accepted = await asyncio.gather(
                client.post(
                    f"/v1/cases/{case['id']}/consents/{consents[0]['id']}/revoke",
                    json={"reason": "survivor asked"},
                    headers=lead.headers,
                ),
                act(client, g, to_g, "accept"),
            )
            # Either the revoke came first (the accept finds the consent gone), or the accept
            # did (the former lead may no longer revoke); never both.
            assert sorted((revoked.status_code, accepted.status_code)) in ([200, 404], [200, 422])


class TestFormerLeadsActiveReferrals:
    async def test_receiver_may_close_the_loop_but_former_lead_may_not_withdraw(
        self,
        client: httpx.AsyncClient,
        case: dict[str, Any],
        lead: Partner,
        g: Partner,
        h: Partner,
    ) -> None:
        # H shelters the survivor for the old lead, then the case moves to G.
        stay = await refer(client, lead, case, h, service="shelter", shared_categories=[])
        assert (await act(client, h, stay, "accept")).status_code == 200
        assert await available(client, h) == 2
        to_g = await transfer(client, lead, case, g)
        assert (await act(client, g, to_g, "accept")).status_code == 200
        # The former lead no longer controls it; the receiver stays on G's care team.
        assert_problem(
            await act(client, lead, stay, "withdraw", reason="x"), 409, "invalid_transition"
        )
        assert_problem(await act(client, h, stay, "start"), 409, "invalid_transition")
        assert (await client.get(f"/v1/cases/{case['id']}", headers=h.headers)).json()[
            "role"
        ] == "care_team"
        # The receiver still completes it: it leaves the care team and gives its place back.
        done = await act(client, h, stay, "complete", outcome="Moved on")
        assert done.status_code == 200 and done.json()["status"] == "completed"
        assert await available(client, h) == 3
        assert_problem(
            await client.get(f"/v1/cases/{case['id']}", headers=h.headers), 404, "not_found"
        )

    async def test_new_lead_still_runs_the_transfer_it_accepted(
        self, client: httpx.AsyncClient, case: dict[str, Any], lead: Partner, g: Partner
    ) -> None:
        to_g = await transfer(client, lead, case, g)
        await act(client, g, to_g, "accept")
        assert (await act(client, g, to_g, "start")).json()["status"] == "in_progress"
        assert (await act(client, g, to_g, "fail", reason="x")).json()["status"] == "failed"


class TestClosedCase:
    async def test_pending_referral_of_closed_case_cannot_be_accepted(
        self,
        client: httpx.AsyncClient,
        case: dict[str, Any],
        lead: Partner,
        h: Partner,
        database: Database,
    ) -> None:
        stay = await refer(client, lead, case, h, service="shelter", shared_categories=[])
        closed = await client.post(
            f"/v1/cases/{case['id']}/close", json={"reason": "Reunified"}, headers=lead.headers
        )
        assert closed.status_code == 200
        assert_problem(await act(client, h, stay, "accept"), 409, "invalid_transition")
        assert await available(client, h) == 3  # no place taken
        assert_withdrawn_by_hub(await get_referral(client, lead, stay), HubWithdrawal.CASE_CLOSED)
        entries = await timeline(client, lead, case)
        assert entries[-1]["summary"] == "Referral for shelter withdrawn"
        assert entries[-1]["details"]["cause"] == "case_closed"
        actions = await audit_actions(database, lead)
        at = actions.index("case.close")
        assert actions[at : at + 2] == ["case.close", "referral.hub_withdraw"]

    async def test_stale_pending_referral_on_closed_case_is_409(
        self,
        client: httpx.AsyncClient,
        case: dict[str, Any],
        lead: Partner,
        h: Partner,
        database: Database,
    ) -> None:
        stay = await refer(client, lead, case, h, service="shelter", shared_categories=[])
        await sql(
            database, "UPDATE cases SET status = 'closed' WHERE id = $1", uuid.UUID(case["id"])
        )
        problem = assert_problem(await act(client, h, stay, "accept"), 409, "invalid_transition")
        assert problem["detail"] == "The case is closed"
        assert await available(client, h) == 3

    async def test_active_referral_on_closed_case_can_only_end(
        self,
        client: httpx.AsyncClient,
        case: dict[str, Any],
        lead: Partner,
        g: Partner,
        h: Partner,
    ) -> None:
        at_g = await refer(client, lead, case, g, service="shelter", shared_categories=[])
        at_h = await refer(client, lead, case, h, service="shelter", shared_categories=[])
        await act(client, g, at_g, "accept")
        await act(client, h, at_h, "accept")
        await client.post(
            f"/v1/cases/{case['id']}/close", json={"reason": "Reunified"}, headers=lead.headers
        )
        assert_problem(await act(client, g, at_g, "start"), 409, "invalid_transition")
        assert (await act(client, g, at_g, "complete", outcome="x")).status_code == 200
        assert (await act(client, lead, at_h, "withdraw", reason="x")).status_code == 200
        assert await available(client, g) == await available(client, h) == 3

    async def test_close_racing_accept_never_accepts_on_a_closed_case(
        self, client: httpx.AsyncClient, lead: Partner, h: Partner, database: Database
    ) -> None:
        for i in range(3):
            case = await open_case(client, lead, external_ref=f"CLOSE-RACE-{i}")
            stay = await refer(client, lead, case, h, service="shelter", shared_categories=[])
            before = await available(client, h)
            closed, accepted = await asyncio.gather(
                client.post(
                    f"/v1/cases/{case['id']}/close", json={"reason": "x"}, headers=lead.headers
                ),
                act(client, h, stay, "accept"),
            )
            assert closed.status_code == 200
            assert accepted.status_code in (200, 409), accepted.text
            rows = await sql(
                database,
                "SELECT r.status, r.responded_at, c.closed_at FROM referrals r "
                "JOIN cases c ON c.id = r.case_id WHERE r.id = $1",
                uuid.UUID(stay["id"]),
            )
            if accepted.status_code == 200:  # the accept came first, then the close
                # A close that came first would have withdrawn the pending referral. (The
                # timestamps can't tell: now() is each transaction's start, not its turn.)
                assert rows[0]["status"] == "accepted"
                assert await available(client, h) == before - 1
            else:
                assert rows[0]["status"] == "withdrawn"
                assert await available(client, h) == before

    async def test_expired_pending_referral_is_left_to_the_sweep_on_close(
        self,
        client: httpx.AsyncClient,
        case: dict[str, Any],
        lead: Partner,
        clinic: Partner,
        database: Database,
    ) -> None:
        late = await refer(client, lead, case, clinic, respond_by="2099-01-01T00:00:00Z")
        await sql(
            database,
            "UPDATE referrals SET respond_by = now() - interval '1 minute' WHERE id = $1",
            uuid.UUID(late["id"]),
        )
        await client.post(
            f"/v1/cases/{case['id']}/close", json={"reason": "x"}, headers=lead.headers
        )
        body = await get_referral(client, lead, late)
        assert body["status"] == "expired" and body["status_reason"] is None

    async def test_placement_on_closed_case_is_409(
        self, client: httpx.AsyncClient, case: dict[str, Any], lead: Partner, h: Partner
    ) -> None:
        await client.post(
            f"/v1/cases/{case['id']}/close", json={"reason": "x"}, headers=lead.headers
        )
        response = await client.post(
            f"/v1/cases/{case['id']}/placements",
            json={"org_id": str(h.org.id), "setting": "ngo_shelter",
                  "started_at": "2026-11-01T00:00:00Z"},
            headers=lead.headers,
        )  # fmt: skip
        assert_problem(response, 409, "conflict")


class TestGraphQL:
    async def test_graphql_accept_of_transfer_after_lead_changed_is_invalid_transition(
        self,
        client: httpx.AsyncClient,
        case: dict[str, Any],
        lead: Partner,
        g: Partner,
        h: Partner,
    ) -> None:
        to_g = await transfer(client, lead, case, g)
        to_h = await transfer(client, lead, case, h)
        accept = "mutation ($id: UUID!) { acceptReferral(id: $id) { status } }"
        accepted = data_of(await gql(client, g, accept, {"id": to_g["id"]}))
        assert accepted["acceptReferral"]["status"] == "accepted"
        only_error(await gql(client, h, accept, {"id": to_h["id"]}), "invalid_transition")
        assert (await get_referral(client, h, to_h))["status"] == "withdrawn"
