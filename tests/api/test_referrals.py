"""Referrals: creation under consent, previews, transitions, care teams, capacity, lead transfer."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.db.database import Database
from tests.factories import PLANTED, Factory, Partner
from tests.helpers import (
    StatementCounter,
    assert_problem,
    behind_the_case,
    consent,
    erasure,
    open_case,
)

REF = "/v1/referrals"


@pytest.fixture
async def shelter(factory: Factory) -> Partner:
    return await factory.partner(
        name="Provincial Shelter",
        kind="government_shelter",
        services=["shelter"],
        capacity=[("shelter", 2, 10)],
    )


def referral_body(case: dict[str, Any], to: Partner, **kw: Any) -> dict[str, Any]:
    return {
        "case_id": case["id"],
        "to_org_id": str(to.org.id),
        "service": "medical",
        "urgency": "high",
        "reason": "Infected wound needs treatment",
        "shared_categories": ["demographics", "medical"],
        **kw,
    }


async def refer(
    client: httpx.AsyncClient, lead: Partner, case: dict[str, Any], to: Partner, **kw: Any
) -> dict[str, Any]:
    categories = [c for c in kw.get("shared_categories", ["medical"]) if c != "demographics"]
    if categories:
        await consent(client, lead, case["id"], to, categories)
    response = await client.post(REF, json=referral_body(case, to, **kw), headers=lead.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def act(
    client: httpx.AsyncClient, who: Partner, referral: dict[str, Any], action: str, **body: Any
) -> httpx.Response:
    return await client.post(
        f"{REF}/{referral['id']}/{action}", json=body or None, headers=who.headers
    )


class TestCreate:
    async def test_only_the_lead_may_refer(
        self,
        client: httpx.AsyncClient,
        case: dict[str, Any],
        clinic: Partner,
        stranger: Partner,
        lead: Partner,
    ) -> None:
        referral = await refer(client, lead, case, clinic)
        await act(client, clinic, referral, "accept")
        for other in (clinic, stranger):  # a care-team member and a stranger
            response = await client.post(
                REF, json=referral_body(case, stranger, shared_categories=[]), headers=other.headers
            )
            assert_problem(response, 404, "not_found")

    async def test_consent_required_names_uncovered_categories(
        self, client: httpx.AsyncClient, case: dict[str, Any], clinic: Partner, lead: Partner
    ) -> None:
        await consent(client, lead, case["id"], clinic, ["medical"])
        body = referral_body(
            case, clinic, shared_categories=["demographics", "medical", "identity", "legal"]
        )
        problem = assert_problem(
            await client.post(REF, json=body, headers=lead.headers), 422, "consent_required"
        )
        assert problem["uncovered_categories"] == ["identity", "legal"]
        assert (await client.get(REF, headers=lead.headers)).json()["items"] == []

    @pytest.mark.parametrize(
        ("overrides", "loc"),
        [
            ({"to_org_id": str(uuid.uuid4())}, ["body", "to_org_id"]),
            ({"service": "spa"}, ["body", "service"]),
            ({"urgency": "whenever"}, ["body", "urgency"]),
            ({"reason": ""}, ["body", "reason"]),
            ({"respond_by": "2020-01-01T00:00:00Z"}, ["body", "respond_by"]),
            ({"shared_categories": ["secrets"]}, ["body", "shared_categories", 0]),
            ({"status": "accepted"}, ["body", "status"]),
        ],
    )
    async def test_bad_input(
        self,
        client: httpx.AsyncClient,
        case: dict[str, Any],
        clinic: Partner,
        lead: Partner,
        overrides: dict[str, Any],
        loc: list[Any],
    ) -> None:
        await consent(client, lead, case["id"], clinic, ["medical"])
        response = await client.post(
            REF, json=referral_body(case, clinic, **overrides), headers=lead.headers
        )
        problem = assert_problem(response, 422, "validation_error")
        assert problem["errors"][0]["loc"][: len(loc)] == loc

    async def test_not_to_self(
        self, client: httpx.AsyncClient, case: dict[str, Any], lead: Partner
    ) -> None:
        response = await client.post(
            REF, json=referral_body(case, lead, shared_categories=[]), headers=lead.headers
        )
        assert_problem(response, 422, "validation_error")

    async def test_closed_case_cannot_be_referred(
        self, client: httpx.AsyncClient, case: dict[str, Any], clinic: Partner, lead: Partner
    ) -> None:
        await client.post(
            f"/v1/cases/{case['id']}/close", json={"reason": "done"}, headers=lead.headers
        )
        response = await client.post(
            REF, json=referral_body(case, clinic, shared_categories=[]), headers=lead.headers
        )
        assert_problem(response, 409, "conflict")

    async def test_happy_path_and_idempotency(
        self, client: httpx.AsyncClient, case: dict[str, Any], clinic: Partner, lead: Partner
    ) -> None:
        await consent(client, lead, case["id"], clinic, ["medical"])
        headers = lead.headers_with(**{"Idempotency-Key": "ref-1"})
        response = await client.post(REF, json=referral_body(case, clinic), headers=headers)
        assert response.status_code == 201
        body = response.json()
        assert body["status"] == "pending" and body["direction"] == "outgoing"
        assert body["case_reference"] == case["reference"]
        assert body["shared_categories"] == ["demographics", "medical"]
        assert "preview" not in body
        again = await client.post(REF, json=referral_body(case, clinic), headers=headers)
        assert again.json()["id"] == body["id"]
        timeline = (
            await client.get(f"/v1/cases/{case['id']}/updates", headers=lead.headers)
        ).json()["items"]
        assert timeline[-1]["summary"] == "Referral for medical sent"
        assert timeline[-1]["category"] == "medical"  # the service's category (need-to-know)


class TestReadAndPreview:
    async def test_stranger_gets_404(
        self,
        client: httpx.AsyncClient,
        case: dict[str, Any],
        clinic: Partner,
        lead: Partner,
        stranger: Partner,
    ) -> None:
        referral = await refer(client, lead, case, clinic)
        assert_problem(
            await client.get(f"{REF}/{referral['id']}", headers=stranger.headers), 404, "not_found"
        )
        assert (await client.get(REF, headers=stranger.headers)).json()["items"] == []
        assert_problem(await act(client, stranger, referral, "accept"), 404, "not_found")
        assert_problem(
            await act(client, stranger, referral, "withdraw", reason="x"), 404, "not_found"
        )

    async def test_pending_receiver_sees_a_preview_and_nothing_identifying(
        self, client: httpx.AsyncClient, case: dict[str, Any], clinic: Partner, lead: Partner
    ) -> None:
        referral = await refer(client, lead, case, clinic, shared_categories=["medical"])
        response = await client.get(f"{REF}/{referral['id']}", headers=clinic.headers)
        body = response.json()
        assert body["direction"] == "incoming"
        assert body["preview"] == {
            "age_band": "25-34",
            "gender": "female",
            "languages": ["my", "th"],
            "interpreter_needed": False,
            "needs": ["shelter", "medical", "legal"],
            "urgency": "high",
            "is_minor": False,
            "exploitation_types": ["labour"],
        }
        assert "case_reference" not in body
        inbox = await client.get(REF, params={"direction": "incoming"}, headers=clinic.headers)
        for text in (response.text, inbox.text):
            for planted in PLANTED:
                assert planted not in text
            assert "Planted" not in text
        # The receiver cannot open the case while the referral is pending.
        assert_problem(
            await client.get(f"/v1/cases/{case['id']}", headers=clinic.headers), 404, "not_found"
        )
        # The lead's access log shows the preview.
        log = (await client.get(f"/v1/cases/{case['id']}/access-log", headers=lead.headers)).json()[
            "items"
        ]
        assert log[0]["action"] == "referral.preview" and log[0]["org_id"] == str(clinic.org.id)
        # the preview's categories, and the service's: the receiver read the reason too
        assert log[0]["categories"] == ["demographics", "exploitation", "general", "medical"]

    async def test_inbox_filters_pagination_and_statements(
        self, client: httpx.AsyncClient, lead: Partner, clinic: Partner, database: Database
    ) -> None:
        created = []
        for i in range(6):
            c = await open_case(client, lead, external_ref=f"INB-{i}")
            created.append(await refer(client, lead, c, clinic, shared_categories=[]))
        await act(client, clinic, created[0], "decline", reason="no capacity this week")
        counter = StatementCounter()
        database.statement_hook = counter
        page = (
            await client.get(
                REF, params={"direction": "incoming", "limit": 4}, headers=clinic.headers
            )
        ).json()
        # token, page, one audit row for the previews, one for the declined referral it shows
        assert counter.count == 4, counter.statements
        rest = (
            await client.get(
                REF,
                params={"direction": "incoming", "limit": 4, "cursor": page["next_cursor"]},
                headers=clinic.headers,
            )
        ).json()
        assert [r["id"] for r in page["items"] + rest["items"]] == [r["id"] for r in created]
        pending = (
            await client.get(REF, params={"status": "pending"}, headers=clinic.headers)
        ).json()["items"]
        assert len(pending) == 5
        assert (
            await client.get(REF, params={"direction": "outgoing"}, headers=clinic.headers)
        ).json()["items"] == []
        assert (
            len(
                (
                    await client.get(REF, params={"direction": "outgoing"}, headers=lead.headers)
                ).json()["items"]
            )
            == 6
        )

    async def test_every_read_after_the_preview_is_audited_in_the_service_category(
        self, client: httpx.AsyncClient, lead: Partner, case: dict[str, Any], clinic: Partner
    ) -> None:
        """A referral's reason and outcome are survivor data of the service's category: the
        lead's access log shows each party that read them, long after the preview."""
        referral = await refer(client, lead, case, clinic, service="legal", shared_categories=[])
        await act(client, clinic, referral, "accept")
        await act(client, clinic, referral, "complete", outcome="Documents recovered")

        async def log() -> list[dict[str, Any]]:
            response = await client.get(f"/v1/cases/{case['id']}/access-log", headers=lead.headers)
            assert response.status_code == 200, response.text
            items: list[dict[str, Any]] = response.json()["items"]
            return items

        one = await client.get(f"{REF}/{referral['id']}", headers=clinic.headers)
        assert one.json()["outcome"] == "Documents recovered"
        newest = (await log())[0]
        assert (newest["action"], newest["org_id"], newest["categories"]) == (
            "referral.read",
            str(clinic.org.id),
            ["legal"],
        )
        page = await client.get(REF, params={"direction": "incoming"}, headers=clinic.headers)
        assert [r["id"] for r in page.json()["items"]] == [referral["id"]]
        newest = (await log())[0]
        assert (newest["action"], newest["org_id"], newest["categories"]) == (
            "referral.list",
            str(clinic.org.id),
            ["legal"],
        )
        # The sender's own reads are audited too; a page without referrals writes nothing.
        await client.get(f"{REF}/{referral['id']}", headers=lead.headers)
        newest = (await log())[0]
        assert (newest["action"], newest["org_id"]) == ("referral.read", str(lead.org.id))
        empty = await client.get(REF, params={"direction": "incoming"}, headers=lead.headers)
        assert empty.json()["items"] == []
        assert (await log())[0] == newest

    @pytest.mark.parametrize(
        "params", [{"direction": "sideways"}, {"status": "lost"}, {"limit": 0}]
    )
    async def test_bad_filters(
        self, client: httpx.AsyncClient, lead: Partner, params: dict[str, Any]
    ) -> None:
        assert_problem(
            await client.get(REF, params=params, headers=lead.headers), 422, "validation_error"
        )


class TestTransitions:
    async def test_full_journey_and_care_team(
        self, client: httpx.AsyncClient, case: dict[str, Any], clinic: Partner, lead: Partner
    ) -> None:
        referral = await refer(
            client, lead, case, clinic, shared_categories=["medical", "identity"]
        )
        accepted = await act(client, clinic, referral, "accept")
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["status"] == "accepted" and accepted.json()["responded_at"]
        # The sender sees who accepted and when.
        seen_by_lead = (await client.get(f"{REF}/{referral['id']}", headers=lead.headers)).json()
        assert seen_by_lead["status"] == "accepted" and seen_by_lead["to_org_id"] == str(
            clinic.org.id
        )
        assert seen_by_lead["responded_at"] == accepted.json()["responded_at"]
        view = (await client.get(f"/v1/cases/{case['id']}", headers=clinic.headers)).json()
        assert view["role"] == "care_team"
        assert view["visible_categories"] == ["demographics", "identity", "medical"]
        assert (await act(client, clinic, referral, "start")).json()["status"] == "in_progress"
        await client.post(
            f"/v1/cases/{case['id']}/updates",
            json={
                "kind": "service_delivered",
                "category": "medical",
                "occurred_at": "2026-11-25T10:00:00Z",
                "summary": "Treated",
            },
            headers=clinic.headers,
        )
        done = await act(client, clinic, referral, "complete", outcome="Wound healed")
        assert done.json()["status"] == "completed" and done.json()["outcome"] == "Wound healed"
        # Off the care team: the case is 404 again; what it authored stays with the case.
        assert_problem(
            await client.get(f"/v1/cases/{case['id']}", headers=clinic.headers), 404, "not_found"
        )
        timeline = (
            await client.get(f"/v1/cases/{case['id']}/updates", headers=lead.headers)
        ).json()["items"]
        assert [u["summary"] for u in timeline] == [
            "Referral for medical sent",
            "Referral for medical accepted",
            "Referral for medical in progress",
            "Treated",
            "Referral for medical completed",
        ]
        assert all(u["category"] == "medical" for u in timeline)

    async def test_refused_transitions(
        self, client: httpx.AsyncClient, case: dict[str, Any], clinic: Partner, lead: Partner
    ) -> None:
        referral = await refer(client, lead, case, clinic)
        assert_problem(
            await act(client, lead, referral, "accept"), 409, "invalid_transition"
        )  # sender
        assert_problem(
            await act(client, clinic, referral, "withdraw", reason="x"), 409, "invalid_transition"
        )
        assert_problem(await act(client, clinic, referral, "start"), 409, "invalid_transition")
        assert_problem(
            await act(client, clinic, referral, "complete", outcome="x"), 409, "invalid_transition"
        )
        assert_problem(
            await act(client, clinic, referral, "decline"), 422, "validation_error"
        )  # reason
        assert_problem(await act(client, clinic, referral, "fail"), 422, "validation_error")
        declined = await act(client, clinic, referral, "decline", reason="Not our service area")
        assert (
            declined.json()["status"] == "declined"
            and declined.json()["status_reason"] == "Not our service area"
        )
        assert_problem(await act(client, clinic, referral, "accept"), 409, "invalid_transition")
        assert_problem(
            await act(client, lead, referral, "withdraw", reason="x"), 409, "invalid_transition"
        )

    async def test_withdraw_by_sender_ends_membership(
        self, client: httpx.AsyncClient, case: dict[str, Any], clinic: Partner, lead: Partner
    ) -> None:
        referral = await refer(client, lead, case, clinic)
        await act(client, clinic, referral, "accept")
        withdrawn = await act(client, lead, referral, "withdraw", reason="Survivor moved")
        assert withdrawn.json()["status"] == "withdrawn"
        assert_problem(
            await client.get(f"/v1/cases/{case['id']}", headers=clinic.headers), 404, "not_found"
        )

    async def test_fail(
        self, client: httpx.AsyncClient, case: dict[str, Any], clinic: Partner, lead: Partner
    ) -> None:
        referral = await refer(client, lead, case, clinic)
        await act(client, clinic, referral, "accept")
        failed = await act(client, clinic, referral, "fail", reason="Could not reach her")
        assert failed.json()["status"] == "failed"

    async def test_concurrent_accepts_exactly_one_wins(
        self,
        client: httpx.AsyncClient,
        case: dict[str, Any],
        clinic: Partner,
        lead: Partner,
        database: Database,
    ) -> None:
        referral = await refer(client, lead, case, clinic)
        responses = await asyncio.gather(
            *[act(client, clinic, referral, "accept") for _ in range(6)]
        )
        assert sorted(r.status_code for r in responses) == [200] + [409] * 5
        async with database.pool.acquire() as conn:
            members = await conn.fetchval(
                "SELECT count(*) FROM case_members WHERE referral_id = $1",
                uuid.UUID(referral["id"]),
            )
        assert members == 1

    async def test_concurrent_accept_and_withdraw(
        self, client: httpx.AsyncClient, case: dict[str, Any], clinic: Partner, lead: Partner
    ) -> None:
        referral = await refer(client, lead, case, clinic)
        accept, withdraw = await asyncio.gather(
            act(client, clinic, referral, "accept"),
            act(client, lead, referral, "withdraw", reason="changed plan"),
        )
        assert sorted((accept.status_code, withdraw.status_code)) in ([200, 200], [200, 409])
        final = (await client.get(f"{REF}/{referral['id']}", headers=lead.headers)).json()["status"]
        assert final in ("accepted", "withdrawn")

    async def test_consent_revoked_mid_referral(
        self, client: httpx.AsyncClient, case: dict[str, Any], clinic: Partner, lead: Partner
    ) -> None:
        referral = await refer(client, lead, case, clinic, shared_categories=["medical"])
        await act(client, clinic, referral, "accept")
        consents = (
            await client.get(f"/v1/cases/{case['id']}/consents", headers=lead.headers)
        ).json()["items"]
        await client.post(
            f"/v1/cases/{case['id']}/consents/{consents[0]['id']}/revoke",
            json={"reason": "withdrawn"},
            headers=lead.headers,
        )
        view = (await client.get(f"/v1/cases/{case['id']}", headers=clinic.headers)).json()
        assert view["visible_categories"] == ["demographics"]

    async def test_expiry(
        self,
        client: httpx.AsyncClient,
        case: dict[str, Any],
        clinic: Partner,
        lead: Partner,
        database: Database,
    ) -> None:
        referral = await refer(client, lead, case, clinic, respond_by="2099-01-01T00:00:00Z")
        async with database.pool.acquire() as conn:
            await conn.execute(
                "UPDATE referrals SET respond_by = now() - interval '1 minute' WHERE id = $1",
                uuid.UUID(referral["id"]),
            )
        assert (await client.get(REF, params={"status": "expired"}, headers=lead.headers)).json()[
            "items"
        ][0]["id"] == referral["id"]
        assert_problem(await act(client, clinic, referral, "accept"), 409, "invalid_transition")
        body = (await client.get(f"{REF}/{referral['id']}", headers=clinic.headers)).json()
        assert body["status"] == "expired" and "preview" not in body
        async with database.pool.acquire() as conn:
            stored = await conn.fetchval(
                "SELECT status FROM referrals WHERE id = $1", uuid.UUID(referral["id"])
            )
        assert stored == "expired"


class TestCapacityAndTransfer:
    async def test_shelter_places_taken_and_given_back(
        self, client: httpx.AsyncClient, case: dict[str, Any], shelter: Partner, lead: Partner
    ) -> None:
        referral = await refer(client, lead, case, shelter, service="shelter", shared_categories=[])
        await act(client, shelter, referral, "accept")
        me = (await client.get("/v1/organizations/me", headers=shelter.headers)).json()
        assert me["capacity"][0]["available"] == 1
        await act(client, shelter, referral, "complete", outcome="Moved to community placement")
        me = (await client.get("/v1/organizations/me", headers=shelter.headers)).json()
        assert me["capacity"][0]["available"] == 2

    async def test_each_write_answers_what_the_next_read_shows(
        self,
        client: httpx.AsyncClient,
        case: dict[str, Any],
        shelter: Partner,
        clinic: Partner,
        lead: Partner,
    ) -> None:
        """A referral's create and transitions answer with the row they wrote and the case's
        fields from the locked case (no read afterwards): the same body and ETag as a read by
        the same party right after, through a place taken and given back and a lead transfer."""

        async def same_as_read(response: httpx.Response, who: Partner) -> dict[str, Any]:
            assert response.status_code in (200, 201), response.text
            read = await client.get(f"{REF}/{response.json()['id']}", headers=who.headers)
            assert read.status_code == 200, read.text
            assert response.json() == read.json()
            assert response.headers["etag"] == read.headers["etag"]
            body: dict[str, Any] = response.json()
            return body

        await consent(client, lead, case["id"], shelter, ["general"])
        created = await client.post(
            REF,
            json=referral_body(case, shelter, service="shelter", shared_categories=["general"]),
            headers=lead.headers,
        )
        referral = await same_as_read(created, lead)
        assert referral["status"] == "pending"
        await same_as_read(await act(client, shelter, referral, "accept"), shelter)
        await same_as_read(await act(client, shelter, referral, "start"), shelter)
        done = await same_as_read(
            await act(client, shelter, referral, "complete", outcome="Moved on"), shelter
        )
        assert done["status"] == "completed" and done["outcome"] == "Moved on"
        everything = [
            "identity", "exploitation", "medical", "counseling", "legal", "education", "placement",
            "general",
        ]  # fmt: skip
        transfer = await refer(
            client, lead, case, clinic, transfer_lead=True, shared_categories=everything
        )
        accepted = await same_as_read(await act(client, clinic, transfer, "accept"), clinic)
        assert accepted["case_reference"] == case["reference"]
        await same_as_read(await act(client, clinic, transfer, "complete", outcome="Done"), clinic)
        for n, steps in enumerate(
            [
                [(clinic, "decline", {"reason": "No capacity"})],
                [
                    (clinic, "accept", {}),
                    (clinic, "start", {}),
                    (clinic, "fail", {"reason": "Left the area"}),
                ],
                [(lead, "withdraw", {"reason": "Sent in error"})],
            ]
        ):
            other = await open_case(client, lead, external_ref=f"ANS-{n}")
            sent = await refer(client, lead, other, clinic)
            for who, action, body in steps:
                await same_as_read(await act(client, who, sent, action, **body), who)

    async def test_a_transition_waiting_for_an_erasure_answers_what_it_left(
        self,
        client: httpx.AsyncClient,
        database: Database,
        app: FastAPI,
        case: dict[str, Any],
        clinic: Partner,
        lead: Partner,
    ) -> None:
        """An identity erasure holds the case row while a receiver declines: the decline waits
        for it, then reads the referral and the case's new data key afresh. It seals its reason
        with that key and answers with the old text erased, as the next read shows; before
        the lock came first, it answered with the destroyed key's text and sealed its reason
        with that key too, so the read after it lost the reason."""
        referral = await refer(client, lead, case, clinic)
        case_id = uuid.UUID(case["id"])
        declined = await behind_the_case(
            database,
            lead,
            case_id,
            erasure(app.state.ctx.key_wrapper, case_id),
            act(client, clinic, referral, "decline", reason="No capacity this week"),
        )
        assert declined.status_code == 200, declined.text
        read = await client.get(f"{REF}/{referral['id']}", headers=clinic.headers)
        assert declined.json() == read.json()
        assert read.json()["reason"] == "[erased]"
        assert read.json()["status_reason"] == "No capacity this week"

    async def test_concurrent_accepts_never_overbook(
        self, client: httpx.AsyncClient, lead: Partner, shelter: Partner
    ) -> None:
        referrals = []
        for i in range(5):
            c = await open_case(client, lead, external_ref=f"CAP-{i}")
            referrals.append(
                await refer(client, lead, c, shelter, service="shelter", shared_categories=[])
            )
        responses = await asyncio.gather(*[act(client, shelter, r, "accept") for r in referrals])
        assert sorted(r.status_code for r in responses) == [200, 200, 409, 409, 409]
        for r in responses:
            if r.status_code == 409:
                assert "No free place" in r.json()["detail"]
        me = (await client.get("/v1/organizations/me", headers=shelter.headers)).json()
        assert me["capacity"][0]["available"] == 0
        routing = {"service": "shelter", "has_capacity": "true"}
        found = (
            await client.get("/v1/organizations", params=routing, headers=lead.headers)
        ).json()["items"]
        assert str(shelter.org.id) not in [o["id"] for o in found]

    async def test_lead_transfer(
        self, client: httpx.AsyncClient, case: dict[str, Any], shelter: Partner, lead: Partner
    ) -> None:
        # A transfer hands over everything, so consent must cover every category.
        partial = referral_body(
            case, shelter, service="shelter", transfer_lead=True, shared_categories=["identity"]
        )
        await consent(client, lead, case["id"], shelter, ["identity"])
        refused = await client.post(REF, json=partial, headers=lead.headers)
        assert "medical" in assert_problem(refused, 422, "consent_required")["uncovered_categories"]
        everything = [
            "identity", "exploitation", "medical", "counseling", "legal", "education", "placement",
            "general",
        ]  # fmt: skip
        referral = await refer(
            client, lead, case, shelter, service="shelter", transfer_lead=True,
            shared_categories=everything,
        )  # fmt: skip
        assert set(referral["shared_categories"]) == {"demographics", *everything}
        await act(client, shelter, referral, "accept")
        as_new_lead = (await client.get(f"/v1/cases/{case['id']}", headers=shelter.headers)).json()
        assert as_new_lead["role"] == "lead" and as_new_lead["lead_org_id"] == str(shelter.org.id)
        assert as_new_lead["survivor"]["given_name"] == PLANTED[0]
        as_old_lead = (await client.get(f"/v1/cases/{case['id']}", headers=lead.headers)).json()
        assert as_old_lead["role"] == "care_team"
        assert_problem(
            await act(client, lead, referral, "withdraw", reason="x"), 409, "invalid_transition"
        )
        await act(client, shelter, referral, "complete", outcome="Handover done")
        assert_problem(
            await client.get(f"/v1/cases/{case['id']}", headers=lead.headers), 404, "not_found"
        )
        assert (await client.get(f"/v1/cases/{case['id']}", headers=shelter.headers)).json()[
            "role"
        ] == "lead"


async def test_the_hub_files_a_referral_on_the_timeline_under_its_services_category(
    client: httpx.AsyncClient, factory: Factory, lead: Partner, clinic: Partner
) -> None:
    """A referral for legal help is legal information: a care-team member entitled to medical
    and general data does not learn of it from the timeline (need-to-know), the lead does."""
    case = await open_case(client, lead)
    lawyer = await factory.partner(name="Justice Aid", kind="legal_partner", services=["legal"])
    to_clinic = await refer(
        client, lead, case, clinic, shared_categories=["demographics", "general", "medical"]
    )
    assert (await act(client, clinic, to_clinic, "accept")).status_code == 200
    await refer(
        client, lead, case, lawyer, service="legal", shared_categories=["demographics", "legal"]
    )

    def summaries(answer: httpx.Response) -> dict[str, str]:
        assert answer.status_code == 200, answer.text
        return {u["summary"]: u["category"] for u in answer.json()["items"]}

    updates = f"/v1/cases/{case['id']}/updates"
    seen_by_lead = summaries(await client.get(updates, headers=lead.headers))
    seen_by_clinic = summaries(await client.get(updates, headers=clinic.headers))
    assert seen_by_lead["Referral for legal sent"] == "legal"
    assert seen_by_lead["Referral for medical accepted"] == "medical"
    assert "Referral for legal sent" not in seen_by_clinic
    assert seen_by_clinic["Referral for medical accepted"] == "medical"
