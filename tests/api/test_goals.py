"""Goals: create, progress (the status history), list, get; the policy decides per category."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from app.db.database import Database
from tests.factories import Factory, Partner, add_member
from tests.helpers import (
    assert_forbidden,
    assert_problem,
    assert_unauthorized,
    consent,
    events_settled,
    iso,
    open_case,
)

NOW = datetime.now(UTC)


def goal_body(owner: Partner, category: str = "medical", **kw: Any) -> dict[str, Any]:
    return {
        "category": category,
        "title": "Sleep through the night",
        "description": "Nightmares most nights since intake.",
        "owner_org_id": str(owner.org.id),
        "target_date": (NOW + timedelta(days=60)).date().isoformat(),
        **kw,
    }


def progress_body(status: str, note: str | None = "Going well.", **kw: Any) -> dict[str, Any]:
    return {"status": status, "note": note, "recorded_at": iso(NOW - timedelta(minutes=5)), **kw}


async def on_care_team(
    client: httpx.AsyncClient, database: Database, lead: Partner, case_id: str, member: Partner
) -> None:
    """``member`` joins the care team sharing `medical`, under a consent covering it."""
    await add_member(database, uuid.UUID(case_id), member.org.id, ["medical"])
    await consent(client, lead, case_id, member, ["medical"])


async def create_goal(
    client: httpx.AsyncClient, who: Partner, case_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(f"/v1/cases/{case_id}/goals", json=body, headers=who.headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def feed(client: httpx.AsyncClient, who: Partner, types: str) -> list[dict[str, Any]]:
    response = await client.get("/v1/events", params={"types": types}, headers=who.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


class TestCreate:
    async def test_no_token_401_and_missing_scope_403(
        self, client: httpx.AsyncClient, factory: Factory, lead: Partner, case: dict[str, Any]
    ) -> None:
        url = f"/v1/cases/{case['id']}/goals"
        assert_unauthorized(await client.post(url, json=goal_body(lead)))
        reader = factory.token(lead.client, "cases:read medical:read")
        response = await client.post(
            url, json=goal_body(lead), headers={"Authorization": f"Bearer {reader}"}
        )
        assert_forbidden(response, "cases:write")
        # cases:write without the category's own write scope
        writer = factory.token(lead.client, "cases:read cases:write medical:read")
        response = await client.post(
            url, json=goal_body(lead), headers={"Authorization": f"Bearer {writer}"}
        )
        assert_forbidden(response, "medical:write")

    async def test_happy_path_and_get_with_etag(
        self,
        client: httpx.AsyncClient,
        database: Database,
        lead: Partner,
        clinic: Partner,
        case: dict[str, Any],
    ) -> None:
        await on_care_team(client, database, lead, case["id"], clinic)
        response = await client.post(
            f"/v1/cases/{case['id']}/goals", json=goal_body(clinic), headers=lead.headers
        )
        assert response.status_code == 201, response.text
        goal = response.json()
        assert response.headers["location"] == f"/v1/cases/{case['id']}/goals/{goal['id']}"
        assert response.headers["etag"] == '"1"'
        assert goal["status"] == "active" and goal["progress"] == [] and goal["version"] == 1
        assert goal["owner_org_id"] == str(clinic.org.id)
        assert goal["created_by_org_id"] == str(lead.org.id)
        assert goal["title"] == "Sleep through the night"
        assert goal["description"] == "Nightmares most nights since intake."
        for who in (lead, clinic):
            got = await client.get(
                f"/v1/cases/{case['id']}/goals/{goal['id']}", headers=who.headers
            )
            assert got.status_code == 200 and got.headers["etag"] == '"1"'
            assert got.json() == goal

    async def test_owner_must_be_lead_or_on_the_care_team(
        self, client: httpx.AsyncClient, lead: Partner, stranger: Partner, case: dict[str, Any]
    ) -> None:
        response = await client.post(
            f"/v1/cases/{case['id']}/goals", json=goal_body(stranger), headers=lead.headers
        )
        body = assert_problem(response, 422, "validation_error")
        assert body["errors"][0]["loc"] == ["body", "owner_org_id"]
        missing = goal_body(lead, owner_org_id=str(uuid.uuid4()))
        response = await client.post(
            f"/v1/cases/{case['id']}/goals", json=missing, headers=lead.headers
        )
        assert_problem(response, 422, "validation_error")

    async def test_bad_values_are_422(
        self, client: httpx.AsyncClient, lead: Partner, case: dict[str, Any]
    ) -> None:
        url = f"/v1/cases/{case['id']}/goals"
        for body in (
            goal_body(lead, category="identity"),
            goal_body(lead, category="nonsense"),
            goal_body(lead, title=""),
            goal_body(lead, title="x" * 201),
            goal_body(lead, description="x" * 4001),
            goal_body(lead, target_date="soon"),
            goal_body(lead, status="achieved"),
            {k: v for k, v in goal_body(lead).items() if k != "owner_org_id"},
        ):
            response = await client.post(url, json=body, headers=lead.headers)
            assert_problem(response, 422, "validation_error")

    async def test_stranger_gets_404(
        self, client: httpx.AsyncClient, lead: Partner, stranger: Partner, case: dict[str, Any]
    ) -> None:
        base = f"/v1/cases/{case['id']}/goals"
        goal = await create_goal(client, lead, case["id"], goal_body(lead))
        for method, url, body in (
            ("POST", base, goal_body(stranger)),
            ("GET", base, None),
            ("GET", f"{base}/{goal['id']}", None),
            ("POST", f"{base}/{goal['id']}/progress", progress_body("on_hold")),
        ):
            response = await client.request(method, url, json=body, headers=stranger.headers)
            assert_problem(response, 404, "not_found")


class TestPolicyPerCategory:
    async def test_clinic_sees_and_writes_medical_goals_not_legal_ones(
        self,
        client: httpx.AsyncClient,
        database: Database,
        lead: Partner,
        clinic: Partner,
        case: dict[str, Any],
    ) -> None:
        await on_care_team(client, database, lead, case["id"], clinic)
        medical = await create_goal(client, lead, case["id"], goal_body(clinic))
        legal = await create_goal(
            client, lead, case["id"], goal_body(lead, category="legal", title="Passport back")
        )
        base = f"/v1/cases/{case['id']}/goals"
        listed = (await client.get(base, headers=clinic.headers)).json()["items"]
        assert [g["id"] for g in listed] == [medical["id"]]
        everything = (await client.get(base, headers=lead.headers)).json()["items"]
        assert [g["id"] for g in everything] == [medical["id"], legal["id"]]
        assert_problem(
            await client.get(f"{base}/{legal['id']}", headers=clinic.headers), 404, "not_found"
        )
        assert_problem(
            await client.post(
                f"{base}/{legal['id']}/progress",
                json=progress_body("achieved"),
                headers=clinic.headers,
            ),
            404,
            "not_found",
        )
        response = await client.post(
            base, json=goal_body(clinic, category="legal"), headers=clinic.headers
        )
        body = assert_problem(response, 422, "validation_error")
        assert body["errors"][0]["loc"] == ["body", "category"]
        # The clinic writes in its own category.
        own = await create_goal(client, clinic, case["id"], goal_body(clinic, title="Wound healed"))
        assert own["created_by_org_id"] == str(clinic.org.id)

    async def test_a_revoked_consent_hides_the_goals_at_once(
        self,
        client: httpx.AsyncClient,
        database: Database,
        lead: Partner,
        clinic: Partner,
        case: dict[str, Any],
    ) -> None:
        await add_member(database, uuid.UUID(case["id"]), clinic.org.id, ["medical"])
        given = await consent(client, lead, case["id"], clinic, ["medical"])
        goal = await create_goal(client, lead, case["id"], goal_body(clinic))
        url = f"/v1/cases/{case['id']}/goals/{goal['id']}"
        assert (await client.get(url, headers=clinic.headers)).status_code == 200
        revoked = await client.post(
            f"/v1/cases/{case['id']}/consents/{given['id']}/revoke",
            json={"reason": "asked to stop"},
            headers=lead.headers,
        )
        assert revoked.status_code == 200
        assert_problem(await client.get(url, headers=clinic.headers), 404, "not_found")


class TestProgress:
    async def test_history_grows_and_final_statuses_are_final(
        self,
        client: httpx.AsyncClient,
        database: Database,
        lead: Partner,
        clinic: Partner,
        case: dict[str, Any],
    ) -> None:
        await on_care_team(client, database, lead, case["id"], clinic)
        goal = await create_goal(client, lead, case["id"], goal_body(clinic))
        url = f"/v1/cases/{case['id']}/goals/{goal['id']}/progress"
        held = await client.post(
            url, json=progress_body("on_hold", "Travelling to court."), headers=clinic.headers
        )
        assert held.status_code == 200, held.text
        assert held.headers["etag"] == '"2"'
        assert held.json()["status"] == "on_hold"
        note = await client.post(url, json=progress_body("on_hold", None), headers=lead.headers)
        assert note.status_code == 200
        done = await client.post(
            url, json=progress_body("achieved", "Sleeps 7 hours."), headers=clinic.headers
        )
        body = done.json()
        assert body["status"] == "achieved" and body["version"] == 4
        assert [(p["status"], p["note"]) for p in body["progress"]] == [
            ("on_hold", "Travelling to court."),
            ("on_hold", None),
            ("achieved", "Sleeps 7 hours."),
        ]
        assert [p["recorded_by_org_id"] for p in body["progress"]] == [
            str(clinic.org.id),
            str(lead.org.id),
            str(clinic.org.id),
        ]
        for status in ("active", "achieved", "cancelled"):
            again = await client.post(url, json=progress_body(status), headers=lead.headers)
            assert_problem(again, 409, "invalid_transition")
        got = await client.get(f"/v1/cases/{case['id']}/goals/{goal['id']}", headers=lead.headers)
        assert got.json() == body

    async def test_bad_progress_is_422_and_unknown_goal_404(
        self, client: httpx.AsyncClient, lead: Partner, case: dict[str, Any]
    ) -> None:
        goal = await create_goal(client, lead, case["id"], goal_body(lead))
        url = f"/v1/cases/{case['id']}/goals/{goal['id']}/progress"
        future = iso(NOW + timedelta(days=1))
        for body in (
            progress_body("done"),
            progress_body("achieved", recorded_at=future),
            progress_body("achieved", note=""),
            {"status": "achieved"},
            progress_body("achieved", extra=1),
        ):
            assert_problem(
                await client.post(url, json=body, headers=lead.headers), 422, "validation_error"
            )
        missing = f"/v1/cases/{case['id']}/goals/{uuid.uuid4()}/progress"
        assert_problem(
            await client.post(missing, json=progress_body("achieved"), headers=lead.headers),
            404,
            "not_found",
        )


class TestList:
    async def test_filters_and_pages(
        self, client: httpx.AsyncClient, lead: Partner, case: dict[str, Any]
    ) -> None:
        ids = []
        for category in ("medical", "legal", "medical"):
            goal = await create_goal(client, lead, case["id"], goal_body(lead, category=category))
            ids.append(goal["id"])
        url = f"/v1/cases/{case['id']}/goals"
        await client.post(
            f"{url}/{ids[2]}/progress", json=progress_body("cancelled"), headers=lead.headers
        )
        medical = await client.get(url, params={"category": "medical"}, headers=lead.headers)
        assert [g["id"] for g in medical.json()["items"]] == [ids[0], ids[2]]
        cancelled = await client.get(url, params={"status": "cancelled"}, headers=lead.headers)
        assert [g["id"] for g in cancelled.json()["items"]] == [ids[2]]
        first = (await client.get(url, params={"limit": 2}, headers=lead.headers)).json()
        assert [g["id"] for g in first["items"]] == ids[:2]
        rest = await client.get(
            url, params={"limit": 2, "cursor": first["next_cursor"]}, headers=lead.headers
        )
        assert [g["id"] for g in rest.json()["items"]] == ids[2:]
        assert rest.json()["next_cursor"] is None
        for params in ({"category": "identity"}, {"status": "done"}, {"cursor": "nope"}):
            response = await client.get(url, params=params, headers=lead.headers)
            assert_problem(response, 422, "validation_error")


class TestEvents:
    async def test_created_and_updated_reach_those_who_see_the_category(
        self,
        client: httpx.AsyncClient,
        database: Database,
        factory: Factory,
        lead: Partner,
        clinic: Partner,
        case: dict[str, Any],
    ) -> None:
        await on_care_team(client, database, lead, case["id"], clinic)
        medical = await create_goal(client, clinic, case["id"], goal_body(clinic))
        await create_goal(client, lead, case["id"], goal_body(lead, category="legal"))
        await client.post(
            f"/v1/cases/{case['id']}/goals/{medical['id']}/progress",
            json=progress_body("achieved"),
            headers=lead.headers,
        )
        await events_settled(database)
        to_lead = await feed(client, lead, "goal.created,goal.updated")
        assert [(e["type"], e["data"]) for e in to_lead] == [
            (
                "goal.created",
                {
                    "goal_id": medical["id"],
                    "status": "active",
                    "category": "medical",
                    "version": 1,
                },
            )
        ]  # its own acts are not echoed back
        to_clinic = await feed(client, clinic, "goal.created,goal.updated")
        assert [(e["type"], e["subject"], e["data"]) for e in to_clinic] == [
            (
                "goal.updated",
                {"type": "goal", "id": medical["id"]},
                {
                    "goal_id": medical["id"],
                    "status": "achieved",
                    "previous_status": "active",
                    "category": "medical",
                    "version": 2,
                },
            )
        ]  # not the legal goal

    async def test_goal_of_an_owner_leaving_the_care_team_stays_and_the_lead_is_told(
        self,
        client: httpx.AsyncClient,
        database: Database,
        lead: Partner,
        clinic: Partner,
        case: dict[str, Any],
    ) -> None:
        await consent(client, lead, case["id"], clinic, ["medical"])
        referral = await client.post(
            "/v1/referrals",
            json={
                "case_id": case["id"],
                "to_org_id": str(clinic.org.id),
                "service": "medical",
                "urgency": "high",
                "reason": "Treatment",
                "shared_categories": ["demographics", "medical"],
            },
            headers=lead.headers,
        )
        assert referral.status_code == 201, referral.text
        rid = referral.json()["id"]
        accepted = await client.post(f"/v1/referrals/{rid}/accept", headers=clinic.headers)
        assert accepted.status_code == 200, accepted.text
        goal = await create_goal(client, lead, case["id"], goal_body(clinic))
        done = await create_goal(client, lead, case["id"], goal_body(clinic, title="Other"))
        await client.post(
            f"/v1/cases/{case['id']}/goals/{done['id']}/progress",
            json=progress_body("achieved"),
            headers=lead.headers,
        )
        completed = await client.post(
            f"/v1/referrals/{rid}/complete", json={"outcome": "treated"}, headers=clinic.headers
        )
        assert completed.status_code == 200, completed.text
        await events_settled(database)
        told = [
            e
            for e in await feed(client, lead, "goal.updated")
            if e["data"].get("reason_code") == "owner_left"
        ]
        assert [(e["subject"]["id"], e["data"]) for e in told] == [
            (
                goal["id"],
                {
                    "goal_id": goal["id"],
                    "status": "active",
                    "category": "medical",
                    "version": 1,
                    "reason_code": "owner_left",
                },
            )
        ]  # only the open goal
        kept = await client.get(f"/v1/cases/{case['id']}/goals/{goal['id']}", headers=lead.headers)
        assert kept.status_code == 200 and kept.json()["owner_org_id"] == str(clinic.org.id)


class TestAtRest:
    async def test_free_text_is_sealed_and_audited_without_it(
        self, client: httpx.AsyncClient, database: Database, lead: Partner
    ) -> None:
        case = await open_case(client, lead)
        goal = await create_goal(
            client,
            lead,
            case["id"],
            goal_body(lead, title="Canary-Title-7", description="Canary-Description-7"),
        )
        await client.post(
            f"/v1/cases/{case['id']}/goals/{goal['id']}/progress",
            json=progress_body("on_hold", "Canary-Note-7"),
            headers=lead.headers,
        )
        session = database.session(transactional=False)
        try:
            from app.db.query import Query

            rows = await session.fetch(
                Query(
                    "SELECT g::text FROM goals g UNION ALL SELECT p::text FROM goal_progress p "
                    "UNION ALL SELECT a::text FROM audit_log a"
                )
            )
        finally:
            await session.close()
        stored = "\n".join(r[0] for r in rows)
        for canary in ("Canary-Title-7", "Canary-Description-7", "Canary-Note-7"):
            assert canary not in stored and canary.encode().hex() not in stored
        assert "goal.create" in stored and "goal.progress" in stored
