"""Placements with minors' rules, vetted homes (home reviews), visits and overdue visits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.db.database import Database
from tests.factories import Factory, Partner, add_member, minor_body
from tests.helpers import (
    StatementCounter,
    assert_problem,
    assert_unauthorized,
    audit_rows,
    consent,
    iso,
    open_case,
    read_and_audit_in_one,
)

NOW = datetime.now(UTC)


class TestPlacements:
    def placement(self, org: Partner, **kw: Any) -> dict[str, Any]:
        return {
            "org_id": str(org.org.id),
            "setting": "ngo_shelter",
            "started_at": iso(NOW - timedelta(days=2)),
            **kw,
        }

    @pytest.mark.parametrize(
        "overrides",
        [
            {"setting": "castle"},
            {"started_at": "2999-01-01T00:00:00Z"},
            {"org_id": str(uuid.uuid4())},
            {"setting": "community_family"},
            {"setting": "foster_family", "home_review_id": str(uuid.uuid4())},
            {"address": "Planted-Street-Location-88"},
        ],
    )
    async def test_bad_input(
        self,
        client: httpx.AsyncClient,
        case: dict[str, Any],
        lead: Partner,
        overrides: dict[str, Any],
    ) -> None:
        url = f"/v1/cases/{case['id']}/placements"
        response = await client.post(
            url, json=self.placement(lead, **overrides), headers=lead.headers
        )
        assert_problem(response, 422, "validation_error")
        assert "Planted" not in response.text
        assert (await client.get(url, headers=lead.headers)).json()["items"] == []

    async def test_home_review_gate_and_one_active_placement(
        self, client: httpx.AsyncClient, case: dict[str, Any], lead: Partner, factory: Factory
    ) -> None:
        family = await factory.partner(name="Community Care Circle", kind="community_care")
        url = f"/v1/cases/{case['id']}/placements"
        reviews = f"/v1/cases/{case['id']}/home-reviews"
        rejected = (
            await client.post(
                reviews,
                json={"reviewed_at": iso(NOW), "result": "rejected", "notes": "unsafe"},
                headers=lead.headers,
            )
        ).json()
        refused = await client.post(
            url,
            json=self.placement(family, setting="community_family", home_review_id=rejected["id"]),
            headers=lead.headers,
        )
        assert_problem(refused, 422, "validation_error")
        other_case = await open_case(client, lead, external_ref="OTHER")
        elsewhere = (
            await client.post(
                f"/v1/cases/{other_case['id']}/home-reviews",
                json={"reviewed_at": iso(NOW), "result": "approved"},
                headers=lead.headers,
            )
        ).json()
        refused = await client.post(
            url,
            json=self.placement(family, setting="community_family", home_review_id=elsewhere["id"]),
            headers=lead.headers,
        )
        assert_problem(refused, 422, "validation_error")
        approved = (
            await client.post(
                reviews, json={"reviewed_at": iso(NOW), "result": "approved"}, headers=lead.headers
            )
        ).json()
        created = await client.post(
            url,
            json=self.placement(family, setting="community_family", home_review_id=approved["id"]),
            headers=lead.headers,
        )
        assert created.status_code == 201, created.text
        second = await client.post(url, json=self.placement(lead), headers=lead.headers)
        assert_problem(second, 409, "conflict")
        listed = (await client.get(url, headers=lead.headers)).json()["items"]
        assert [p["setting"] for p in listed] == ["community_family"]

    async def test_minor_exit_rules(self, client: httpx.AsyncClient, lead: Partner) -> None:
        minor = (await client.post("/v1/cases", json=minor_body(), headers=lead.headers)).json()
        url = f"/v1/cases/{minor['id']}/placements"
        placement = (await client.post(url, json=self.placement(lead), headers=lead.headers)).json()
        end = f"{url}/{placement['id']}/end"
        body = {"ended_at": iso(NOW), "exit_reason": "reunified_with_family"}
        problem = assert_problem(
            await client.post(end, json=body, headers=lead.headers), 422, "validation_error"
        )
        assert problem["errors"][0]["loc"] == ["body", "authorization_ref"]
        ok = await client.post(
            end,
            json={**body, "authorization_ref": "Family court order FC-2026-114"},
            headers=lead.headers,
        )
        assert ok.status_code == 200 and ok.json()["exit_reason"] == "reunified_with_family"
        assert_problem(
            await client.post(end, json={**body, "authorization_ref": "x"}, headers=lead.headers),
            409,
            "conflict",
        )
        # A transfer into another placement needs no authorisation.
        second = (await client.post(url, json=self.placement(lead), headers=lead.headers)).json()
        moved = await client.post(
            f"{url}/{second['id']}/end",
            json={"ended_at": iso(NOW), "exit_reason": "transferred"},
            headers=lead.headers,
        )
        assert moved.status_code == 200

    async def test_visits_and_overdue_list(
        self,
        client: httpx.AsyncClient,
        case: dict[str, Any],
        lead: Partner,
        factory: Factory,
        database: Database,
    ) -> None:
        family = await factory.partner(name="Foster Family Network", kind="community_care")
        review = (
            await client.post(
                f"/v1/cases/{case['id']}/home-reviews",
                json={"reviewed_at": iso(NOW), "result": "approved"},
                headers=lead.headers,
            )
        ).json()
        url = f"/v1/cases/{case['id']}/placements"
        placement = (
            await client.post(
                url,
                json=self.placement(
                    family,
                    setting="foster_family",
                    home_review_id=review["id"],
                    started_at=iso(datetime.now(UTC) - timedelta(days=10, minutes=-30)),
                ),
                headers=lead.headers,
            )
        ).json()
        overdue = (await client.get("/v1/placements/overdue-visits", headers=lead.headers)).json()[
            "items"
        ]
        assert [(o["placement_id"], o["days_overdue"]) for o in overdue] == [(placement["id"], 3)]
        assert overdue[0]["case_reference"] == case["reference"]
        visit = await client.post(
            f"{url}/{placement['id']}/visits",
            json={"visited_at": iso(NOW - timedelta(hours=1)), "summary": "Settling in well"},
            headers=lead.headers,
        )
        assert visit.status_code == 201
        assert (await client.get("/v1/placements/overdue-visits", headers=lead.headers)).json()[
            "items"
        ] == []
        shelter_case = await open_case(client, lead, external_ref="SHELTER")
        shelter = (
            await client.post(
                f"/v1/cases/{shelter_case['id']}/placements",
                json=self.placement(lead),
                headers=lead.headers,
            )
        ).json()
        refused = await client.post(
            f"/v1/cases/{shelter_case['id']}/placements/{shelter['id']}/visits",
            json={"visited_at": iso(NOW), "summary": "x"},
            headers=lead.headers,
        )
        assert_problem(refused, 422, "validation_error")
        assert_unauthorized(await client.get("/v1/placements/overdue-visits"))

    async def test_placement_never_reaches_a_preview_or_a_member_without_consent(
        self,
        client: httpx.AsyncClient,
        case: dict[str, Any],
        lead: Partner,
        stranger: Partner,
        database: Database,
    ) -> None:
        await client.post(
            f"/v1/cases/{case['id']}/placements", json=self.placement(lead), headers=lead.headers
        )
        await add_member(database, uuid.UUID(case["id"]), stranger.org.id, ["placement"])
        assert_problem(
            await client.get(f"/v1/cases/{case['id']}/placements", headers=stranger.headers),
            404,
            "not_found",
        )
        await consent(client, lead, case["id"], stranger, ["placement"])
        assert (
            len(
                (
                    await client.get(f"/v1/cases/{case['id']}/placements", headers=stranger.headers)
                ).json()["items"]
            )
            == 1
        )


async def test_a_list_appends_its_audit_row_in_the_same_statement(
    client: httpx.AsyncClient, case: dict[str, Any], lead: Partner, database: Database
) -> None:
    url = f"/v1/cases/{case['id']}/placements"
    placed = await client.post(
        url,
        json={
            "org_id": str(lead.org.id),
            "setting": "ngo_shelter",
            "started_at": iso(NOW - timedelta(days=2)),
        },
        headers=lead.headers,
    )
    assert placed.status_code == 201, placed.text
    counter = StatementCounter()
    database.statement_hook = counter
    listed = await client.get(url, headers=lead.headers)
    database.statement_hook = None
    assert [p["id"] for p in listed.json()["items"]] == [placed.json()["id"]]
    read_and_audit_in_one(counter, "placements p")
    assert await audit_rows(database, "placement.list", uuid.UUID(case["id"])) == 1
