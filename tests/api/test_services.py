"""Service records: create, update with If-Match, list, get, and a provider's scheduled ones."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from app.db.database import Database
from tests.api.test_goals import create_goal, feed, goal_body, on_care_team
from tests.factories import Factory, Partner
from tests.helpers import (
    assert_forbidden,
    assert_problem,
    assert_unauthorized,
    events_settled,
    iso,
    open_case,
)

NOW = datetime.now(UTC)


def service_body(provider: Partner, **kw: Any) -> dict[str, Any]:
    return {
        "service": "medical",
        "category": "medical",
        "type": "appointment",
        "status": "scheduled",
        "scheduled_at": iso(NOW + timedelta(days=2)),
        "provider_org_id": str(provider.org.id),
        "notes": "Bring the discharge letter.",
        "codes": [{"system": "ICD-10", "code": "T74.2"}],
        **kw,
    }


async def create_service(
    client: httpx.AsyncClient, who: Partner, case_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(f"/v1/cases/{case_id}/services", json=body, headers=who.headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


class TestCreate:
    async def test_no_token_401_and_missing_scope_403(
        self, client: httpx.AsyncClient, factory: Factory, lead: Partner, case: dict[str, Any]
    ) -> None:
        url = f"/v1/cases/{case['id']}/services"
        assert_unauthorized(await client.post(url, json=service_body(lead)))
        reader = factory.token(lead.client, "cases:read medical:read")
        response = await client.post(
            url, json=service_body(lead), headers={"Authorization": f"Bearer {reader}"}
        )
        assert_forbidden(response, "cases:write")

    async def test_happy_path_against_a_goal(
        self,
        client: httpx.AsyncClient,
        database: Database,
        lead: Partner,
        clinic: Partner,
        case: dict[str, Any],
    ) -> None:
        await on_care_team(client, database, lead, case["id"], clinic)
        goal = await create_goal(client, lead, case["id"], goal_body(clinic))
        response = await client.post(
            f"/v1/cases/{case['id']}/services",
            json=service_body(clinic, goal_id=goal["id"]),
            headers=clinic.headers,
        )
        assert response.status_code == 201, response.text
        record = response.json()
        assert response.headers["location"] == f"/v1/cases/{case['id']}/services/{record['id']}"
        assert response.headers["etag"] == '"1"'
        assert record["status"] == "scheduled" and record["goal_id"] == goal["id"]
        assert record["codes"] == [{"system": "ICD-10", "code": "T74.2"}]
        assert record["notes"] == "Bring the discharge letter."
        assert record["provider_org_id"] == str(clinic.org.id)
        got = await client.get(
            f"/v1/cases/{case['id']}/services/{record['id']}", headers=lead.headers
        )
        assert got.status_code == 200 and got.headers["etag"] == '"1"'
        assert got.json() == record

    async def test_goal_of_another_case_or_category_and_outsider_provider_are_422(
        self,
        client: httpx.AsyncClient,
        lead: Partner,
        stranger: Partner,
        case: dict[str, Any],
    ) -> None:
        other_case = await open_case(client, lead, external_ref="OTHER-1")
        elsewhere = await create_goal(client, lead, other_case["id"], goal_body(lead))
        legal = await create_goal(client, lead, case["id"], goal_body(lead, category="legal"))
        url = f"/v1/cases/{case['id']}/services"
        for body, field in (
            (service_body(lead, goal_id=elsewhere["id"]), "goal_id"),
            (service_body(lead, goal_id=legal["id"]), "goal_id"),
            (service_body(lead, goal_id=str(uuid.uuid4())), "goal_id"),
            (service_body(stranger), "provider_org_id"),
        ):
            response = await client.post(url, json=body, headers=lead.headers)
            problem = assert_problem(response, 422, "validation_error")
            assert problem["errors"][0]["loc"] == ["body", field]

    async def test_bad_values_are_422(
        self, client: httpx.AsyncClient, lead: Partner, case: dict[str, Any]
    ) -> None:
        url = f"/v1/cases/{case['id']}/services"
        later = iso(NOW + timedelta(days=1))
        for body in (
            service_body(lead, service="massage"),
            service_body(lead, category="identity"),
            service_body(lead, type="visit"),
            service_body(lead, status="done"),
            service_body(lead, scheduled_at=None),  # scheduled needs scheduled_at
            service_body(lead, status="missed", scheduled_at=None),
            service_body(lead, status="attended"),  # attended needs occurred_at
            service_body(lead, status="attended", occurred_at=later),  # not in the future
            service_body(lead, occurred_at=iso(NOW)),  # a scheduled service has not occurred
            service_body(lead, codes=[{"system": "ICD-10", "code": str(i)} for i in range(11)]),
            service_body(lead, codes=[{"system": "x" * 101, "code": "1"}]),
            service_body(lead, codes=[{"system": "ICD-10", "code": "x" * 65}]),
            service_body(lead, codes=[{"system": "ICD-10"}]),
            service_body(lead, notes="x" * 4001),
            service_body(lead, extra=True),
        ):
            response = await client.post(url, json=body, headers=lead.headers)
            assert_problem(response, 422, "validation_error")

    async def test_stranger_gets_404(
        self, client: httpx.AsyncClient, lead: Partner, stranger: Partner, case: dict[str, Any]
    ) -> None:
        record = await create_service(client, lead, case["id"], service_body(lead))
        base = f"/v1/cases/{case['id']}/services"
        for method, url, body, headers in (
            ("POST", base, service_body(stranger), {}),
            ("GET", base, None, {}),
            ("GET", f"{base}/{record['id']}", None, {}),
            ("PATCH", f"{base}/{record['id']}", {"status": "missed"}, {"If-Match": '"1"'}),
        ):
            response = await client.request(
                method, url, json=body, headers=stranger.headers_with(**headers)
            )
            assert_problem(response, 404, "not_found")


class TestUpdate:
    async def test_missed_then_attended_with_if_match(
        self,
        client: httpx.AsyncClient,
        database: Database,
        lead: Partner,
        clinic: Partner,
        case: dict[str, Any],
    ) -> None:
        await on_care_team(client, database, lead, case["id"], clinic)
        first = await create_service(client, clinic, case["id"], service_body(clinic))
        url = f"/v1/cases/{case['id']}/services/{first['id']}"
        assert_problem(
            await client.patch(url, json={"status": "missed"}, headers=clinic.headers),
            428,
            "precondition_required",
        )
        assert_problem(
            await client.patch(
                url, json={"status": "missed"}, headers=clinic.headers_with(**{"If-Match": '"7"'})
            ),
            412,
            "precondition_failed",
        )
        missed = await client.patch(
            url,
            json={"status": "missed", "notes": "No show."},
            headers=clinic.headers_with(**{"If-Match": '"1"'}),
        )
        assert missed.status_code == 200, missed.text
        assert missed.headers["etag"] == '"2"'
        assert missed.json()["status"] == "missed" and missed.json()["notes"] == "No show."
        assert_problem(
            await client.patch(
                url, json={"status": "attended"}, headers=clinic.headers_with(**{"If-Match": "*"})
            ),
            409,
            "invalid_transition",
        )
        second = await create_service(client, clinic, case["id"], service_body(clinic))
        attended = await client.patch(
            f"/v1/cases/{case['id']}/services/{second['id']}",
            json={"status": "attended", "occurred_at": iso(NOW - timedelta(minutes=30))},
            headers=clinic.headers_with(**{"If-Match": '"1"'}),
        )
        assert attended.status_code == 200, attended.text
        assert attended.json()["status"] == "attended" and attended.json()["version"] == 2
        # The notes of a final record can still be corrected; null clears them.
        cleared = await client.patch(
            url, json={"notes": None}, headers=clinic.headers_with(**{"If-Match": '"2"'})
        )
        assert cleared.status_code == 200 and cleared.json()["notes"] is None

    async def test_bad_patches_are_422(
        self, client: httpx.AsyncClient, lead: Partner, case: dict[str, Any]
    ) -> None:
        record = await create_service(client, lead, case["id"], service_body(lead))
        url = f"/v1/cases/{case['id']}/services/{record['id']}"
        headers = lead.headers_with(**{"If-Match": '"1"'})
        for body in (
            {"status": None},
            {"status": "done"},
            {"status": "attended"},  # no occurred_at
            {"status": "attended", "occurred_at": iso(NOW + timedelta(days=1))},
            {"category": "legal"},
            {"scheduled_at": iso(NOW)},
        ):
            response = await client.patch(url, json=body, headers=headers)
            assert_problem(response, 422, "validation_error")
        missing = f"/v1/cases/{case['id']}/services/{uuid.uuid4()}"
        assert_problem(
            await client.patch(missing, json={"status": "missed"}, headers=headers),
            404,
            "not_found",
        )


class TestListAndPolicy:
    async def test_filters_pages_and_categories(
        self,
        client: httpx.AsyncClient,
        database: Database,
        lead: Partner,
        clinic: Partner,
        case: dict[str, Any],
    ) -> None:
        await on_care_team(client, database, lead, case["id"], clinic)
        medical = await create_service(client, lead, case["id"], service_body(clinic))
        legal = await create_service(
            client,
            lead,
            case["id"],
            service_body(lead, service="legal", category="legal", type="session"),
        )
        done = await create_service(
            client,
            lead,
            case["id"],
            service_body(
                clinic, status="completed", type="supply", occurred_at=iso(NOW), scheduled_at=None
            ),
        )
        url = f"/v1/cases/{case['id']}/services"
        mine = (await client.get(url, headers=clinic.headers)).json()["items"]
        assert [s["id"] for s in mine] == [medical["id"], done["id"]]
        assert_problem(
            await client.get(f"{url}/{legal['id']}", headers=clinic.headers), 404, "not_found"
        )
        assert_problem(
            await client.patch(
                f"{url}/{legal['id']}",
                json={"status": "missed"},
                headers=clinic.headers_with(**{"If-Match": '"1"'}),
            ),
            404,
            "not_found",
        )
        by_status = await client.get(url, params={"status": "scheduled"}, headers=lead.headers)
        assert [s["id"] for s in by_status.json()["items"]] == [medical["id"], legal["id"]]
        by_category = await client.get(url, params={"category": "legal"}, headers=lead.headers)
        assert [s["id"] for s in by_category.json()["items"]] == [legal["id"]]
        first = (await client.get(url, params={"limit": 2}, headers=lead.headers)).json()
        rest = await client.get(
            url, params={"limit": 2, "cursor": first["next_cursor"]}, headers=lead.headers
        )
        assert [s["id"] for s in first["items"] + rest.json()["items"]] == [
            medical["id"],
            legal["id"],
            done["id"],
        ]
        for params in ({"status": "done"}, {"category": "identity"}, {"cursor": "x"}):
            assert_problem(
                await client.get(url, params=params, headers=lead.headers),
                422,
                "validation_error",
            )


class TestScheduled:
    async def test_the_providers_own_scheduled_services_across_cases_it_still_sees(
        self,
        client: httpx.AsyncClient,
        database: Database,
        lead: Partner,
        clinic: Partner,
        stranger: Partner,
    ) -> None:
        one = await open_case(client, lead, external_ref="S-1")
        two = await open_case(client, lead, external_ref="S-2")
        await on_care_team(client, database, lead, one["id"], clinic)
        await on_care_team(client, database, lead, two["id"], clinic)
        soon = await create_service(
            client, lead, one["id"], service_body(clinic, scheduled_at=iso(NOW + timedelta(days=1)))
        )
        later = await create_service(
            client, lead, two["id"], service_body(clinic, scheduled_at=iso(NOW + timedelta(days=3)))
        )
        far = await create_service(
            client,
            lead,
            two["id"],
            service_body(clinic, scheduled_at=iso(NOW + timedelta(days=90))),
        )
        await create_service(client, lead, one["id"], service_body(lead))  # the lead's own
        url = "/v1/services/scheduled"
        page = (await client.get(url, headers=clinic.headers)).json()
        assert [(s["id"], s["case_reference"]) for s in page["items"]] == [
            (soon["id"], one["reference"]),
            (later["id"], two["reference"]),
        ]
        assert page["items"][0]["notes"] == "Bring the discharge letter."
        horizon = iso(NOW + timedelta(days=100))
        first = (
            await client.get(url, params={"before": horizon, "limit": 2}, headers=clinic.headers)
        ).json()
        rest = (
            await client.get(
                url,
                params={"before": horizon, "limit": 2, "cursor": first["next_cursor"]},
                headers=clinic.headers,
            )
        ).json()
        assert [s["id"] for s in first["items"] + rest["items"]] == [
            soon["id"],
            later["id"],
            far["id"],
        ]
        # Consent to `medical` revoked on case two: its rows disappear from the clinic's list.
        consents = (
            await client.get(f"/v1/cases/{two['id']}/consents", headers=lead.headers)
        ).json()["items"]
        for c in consents:
            await client.post(
                f"/v1/cases/{two['id']}/consents/{c['id']}/revoke",
                json={"reason": "withdrawn"},
                headers=lead.headers,
            )
        page = (await client.get(url, headers=clinic.headers)).json()
        assert [s["id"] for s in page["items"]] == [soon["id"]]
        assert (await client.get(url, headers=stranger.headers)).json()["items"] == []
        assert_unauthorized(await client.get(url))
        for params in ({"before": "tomorrow"}, {"cursor": "x"}, {"limit": 0}):
            assert_problem(
                await client.get(url, params=params, headers=clinic.headers),
                422,
                "validation_error",
            )


class TestEvents:
    async def test_created_and_updated_to_those_who_see_the_category(
        self,
        client: httpx.AsyncClient,
        database: Database,
        lead: Partner,
        clinic: Partner,
        case: dict[str, Any],
    ) -> None:
        await on_care_team(client, database, lead, case["id"], clinic)
        record = await create_service(client, clinic, case["id"], service_body(clinic))
        await create_service(
            client, lead, case["id"], service_body(lead, service="legal", category="legal")
        )
        await client.patch(
            f"/v1/cases/{case['id']}/services/{record['id']}",
            json={"status": "missed"},
            headers=lead.headers_with(**{"If-Match": '"1"'}),
        )
        await events_settled(database)
        to_lead = await feed(client, lead, "service.created,service.updated")
        assert [(e["type"], e["data"]) for e in to_lead] == [
            (
                "service.created",
                {
                    "service_id": record["id"],
                    "status": "scheduled",
                    "category": "medical",
                    "version": 1,
                },
            )
        ]
        to_clinic = await feed(client, clinic, "service.created,service.updated")
        assert [(e["type"], e["data"]) for e in to_clinic] == [
            (
                "service.updated",
                {
                    "service_id": record["id"],
                    "status": "missed",
                    "previous_status": "scheduled",
                    "category": "medical",
                    "version": 2,
                },
            )
        ]
