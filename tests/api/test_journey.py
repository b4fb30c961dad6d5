"""Legal advocacy, placements with minors' rules and vetted homes, follow-ups."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.db.database import Database
from tests.factories import Factory, Partner, add_member, minor_body
from tests.helpers import (
    StatementCounter,
    assert_problem,
    assert_unauthorized,
    consent,
    iso,
    open_case,
)


@pytest.fixture
async def lawyer(factory: Factory) -> Partner:
    return await factory.partner(name="Justice Aid", kind="legal_partner", services=["legal"])


NOW = datetime.now(UTC)
LEGAL: dict[str, Any] = {
    "documents": [{"type": "passport", "status": "held_by_trafficker"}],
    "testimony": {
        "status": "in_preparation",
        "protective_measures": ["video_link", "support_person"],
        "next_session_at": "2026-12-03T09:00:00Z",
    },
    "prosecution": {"status": "charged", "next_hearing_at": "2027-01-15T09:00:00Z"},
    "immigration_relief": {"type": "trafficking victim visa", "status": "applied"},
}


class TestLegal:
    async def test_happy_path_with_etag_and_timeline(
        self, client: httpx.AsyncClient, case: dict[str, Any], lead: Partner
    ) -> None:
        url = f"/v1/cases/{case['id']}/legal"
        empty = await client.get(url, headers=lead.headers)
        assert empty.status_code == 200 and empty.headers["etag"] == '"0"'
        assert (
            empty.json()["testimony"]["status"] == "not_started" and empty.json()["documents"] == []
        )
        assert_problem(
            await client.put(url, json=LEGAL, headers=lead.headers), 428, "precondition_required"
        )
        saved = await client.put(url, json=LEGAL, headers=lead.headers_with(**{"If-Match": '"0"'}))
        assert saved.status_code == 200, saved.text
        assert saved.headers["etag"] == '"1"'
        assert saved.json()["testimony"]["protective_measures"] == ["video_link", "support_person"]
        stale = await client.put(url, json=LEGAL, headers=lead.headers_with(**{"If-Match": '"0"'}))
        assert_problem(stale, 412, "precondition_failed")
        changed = {**LEGAL, "testimony": {**LEGAL["testimony"], "status": "ready"}}
        again = await client.put(
            url, json=changed, headers=lead.headers_with(**{"If-Match": '"1"'})
        )
        assert again.json()["version"] == 2
        timeline = (
            await client.get(
                f"/v1/cases/{case['id']}/updates",
                params={"category": "legal"},
                headers=lead.headers,
            )
        ).json()["items"]
        assert [u["summary"] for u in timeline] == [
            "Legal record updated: documents, testimony, prosecution, immigration relief",
            "Legal record updated: testimony",
        ]

    @pytest.mark.parametrize(
        "body",
        [
            {**LEGAL, "documents": [{"type": "passport", "status": "stolen"}]},
            {**LEGAL, "testimony": {"status": "nervous"}},
            {**LEGAL, "testimony": {"protective_measures": ["invisibility"]}},
            {**LEGAL, "verdict": "guilty"},
            {**LEGAL, "prosecution": {"next_hearing_at": "2027-01-15T09:00:00"}},
        ],
    )
    async def test_bad_input(
        self, client: httpx.AsyncClient, case: dict[str, Any], lead: Partner, body: dict[str, Any]
    ) -> None:
        url = f"/v1/cases/{case['id']}/legal"
        assert_problem(
            await client.put(url, json=body, headers=lead.headers_with(**{"If-Match": "*"})),
            422,
            "validation_error",
        )
        assert (await client.get(url, headers=lead.headers)).json()["version"] == 0

    async def test_legal_partner_needs_membership_and_consent(
        self,
        client: httpx.AsyncClient,
        case: dict[str, Any],
        lead: Partner,
        lawyer: Partner,
        stranger: Partner,
        database: Database,
    ) -> None:
        url = f"/v1/cases/{case['id']}/legal"
        await client.put(url, json=LEGAL, headers=lead.headers_with(**{"If-Match": "*"}))
        assert_problem(await client.get(url, headers=stranger.headers), 404, "not_found")
        assert_problem(await client.get(url, headers=lawyer.headers), 404, "not_found")
        await add_member(database, uuid.UUID(case["id"]), lawyer.org.id, ["legal"])
        assert_problem(
            await client.get(url, headers=lawyer.headers), 404, "not_found"
        )  # no consent
        c = await consent(client, lead, case["id"], lawyer, ["legal"])
        seen = await client.get(url, headers=lawyer.headers)
        assert seen.status_code == 200 and seen.json()["prosecution"]["status"] == "charged"
        update = {**LEGAL, "testimony": {**LEGAL["testimony"], "status": "testified"}}
        put = await client.put(url, json=update, headers=lawyer.headers_with(**{"If-Match": '"1"'}))
        assert put.status_code == 200
        await client.post(
            f"/v1/cases/{case['id']}/consents/{c['id']}/revoke",
            json={"reason": "x"},
            headers=lead.headers,
        )
        assert_problem(await client.get(url, headers=lawyer.headers), 404, "not_found")


class TestTestimonyPull:
    async def test_bad_input(self, client: httpx.AsyncClient, lawyer: Partner) -> None:
        assert_problem(
            await client.get(
                "/v1/legal/testimony", params={"status": "nervous"}, headers=lawyer.headers
            ),
            422,
            "validation_error",
        )

    async def test_lists_only_cases_visible_in_legal_with_constant_statements(
        self, client: httpx.AsyncClient, lead: Partner, lawyer: Partner, database: Database
    ) -> None:
        cases = []
        for i in range(50):
            c = await open_case(client, lead, external_ref=f"T-{i}")
            await add_member(database, uuid.UUID(c["id"]), lawyer.org.id, ["legal"])
            if i % 5 != 4:  # every fifth case has no consent: invisible in legal
                await consent(client, lead, c["id"], lawyer, ["legal"])
            cases.append(c)
        await client.put(
            f"/v1/cases/{cases[0]['id']}/legal",
            json=LEGAL,
            headers=lawyer.headers_with(**{"If-Match": '"0"'}),
        )
        counter = StatementCounter()
        database.statement_hook = counter
        page = (
            await client.get("/v1/legal/testimony", params={"limit": 100}, headers=lawyer.headers)
        ).json()
        assert counter.count == 3, counter.statements  # token, one page query, one audit row
        assert len(page["items"]) == 40
        ready = (
            await client.get(
                "/v1/legal/testimony", params={"status": "in_preparation"}, headers=lawyer.headers
            )
        ).json()
        assert [r["case_id"] for r in ready["items"]] == [cases[0]["id"]]
        row = ready["items"][0]
        assert row["reference"] == cases[0]["reference"]
        assert row["protective_measures"] == ["video_link", "support_person"]
        assert row["next_hearing_at"] == "2027-01-15T09:00:00Z"
        seen, cursor = [], None
        while True:
            params: dict[str, Any] = {"limit": 15, **({"cursor": cursor} if cursor else {})}
            body = (
                await client.get("/v1/legal/testimony", params=params, headers=lawyer.headers)
            ).json()
            seen += [r["case_id"] for r in body["items"]]
            cursor = body["next_cursor"]
            if not cursor:
                break
        assert len(seen) == len(set(seen)) == 40


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


class TestFollowUps:
    async def test_bad_input(
        self, client: httpx.AsyncClient, case: dict[str, Any], lead: Partner
    ) -> None:
        url = f"/v1/cases/{case['id']}/follow-ups"
        assert_problem(
            await client.post(url, json={"due_on": "soon"}, headers=lead.headers),
            422,
            "validation_error",
        )
        assert_problem(
            await client.get("/v1/follow-ups", params={"due_before": "x"}, headers=lead.headers),
            422,
            "validation_error",
        )

    async def test_outcomes_raise_risk_and_reach_the_timeline(
        self, client: httpx.AsyncClient, lead: Partner
    ) -> None:
        case = await open_case(client, lead, risk_level="low")
        url = f"/v1/cases/{case['id']}/follow-ups"
        overdue = (
            await client.post(
                url,
                json={"due_on": (date.today() - timedelta(days=3)).isoformat()},
                headers=lead.headers,
            )
        ).json()
        later = (
            await client.post(
                url,
                json={"due_on": (date.today() + timedelta(days=30)).isoformat()},
                headers=lead.headers,
            )
        ).json()
        due = (await client.get("/v1/follow-ups", headers=lead.headers)).json()["items"]
        assert [(d["id"], d["days_overdue"]) for d in due] == [(overdue["id"], 3)]
        assert due[0]["case_reference"] == case["reference"]
        upcoming = (
            await client.get(
                "/v1/follow-ups",
                params={"due_before": (date.today() + timedelta(days=60)).isoformat()},
                headers=lead.headers,
            )
        ).json()
        assert [d["id"] for d in upcoming["items"]] == [overdue["id"], later["id"]]
        record = f"{url}/{overdue['id']}/record"
        recorded = await client.post(
            record, json={"contacted_at": iso(NOW), "outcome": "at_risk"}, headers=lead.headers
        )
        assert recorded.status_code == 200 and recorded.json()["outcome"] == "at_risk"
        assert (await client.get(f"/v1/cases/{case['id']}", headers=lead.headers)).json()[
            "risk_level"
        ] == "high"
        assert_problem(
            await client.post(
                record, json={"contacted_at": iso(NOW), "outcome": "stable"}, headers=lead.headers
            ),
            409,
            "conflict",
        )
        assert_problem(
            await client.post(
                record, json={"contacted_at": iso(NOW), "outcome": "fine"}, headers=lead.headers
            ),
            422,
            "validation_error",
        )
        again = await client.post(
            f"{url}/{later['id']}/record",
            json={"contacted_at": iso(NOW), "outcome": "re_exploited"},
            headers=lead.headers,
        )
        assert again.status_code == 200
        assert (await client.get(f"/v1/cases/{case['id']}", headers=lead.headers)).json()[
            "risk_level"
        ] == "critical"
        timeline = (
            await client.get(f"/v1/cases/{case['id']}/updates", headers=lead.headers)
        ).json()["items"]
        assert [u["summary"] for u in timeline] == [
            "Follow-up: at risk; risk level raised to high",
            "Follow-up: re-exploited; risk level raised to critical",
        ]
        assert (await client.get("/v1/follow-ups", headers=lead.headers)).json()["items"] == []
