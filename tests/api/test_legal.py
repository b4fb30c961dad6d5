"""The legal record (documents, testimony, prosecution, relief) and the testimony pull."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from app.db.database import Database
from tests.factories import Factory, Partner, add_member
from tests.helpers import (
    StatementCounter,
    assert_problem,
    audit_rows,
    consent,
    open_case,
    read_and_audit_in_one,
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


async def test_a_read_appends_its_audit_row_in_the_same_statement(
    client: httpx.AsyncClient, case: dict[str, Any], lead: Partner, database: Database
) -> None:
    url = f"/v1/cases/{case['id']}/legal"
    for record in (False, True):  # no legal record yet, then one
        if record:
            put = await client.put(url, json=LEGAL, headers=lead.headers_with(**{"If-Match": "*"}))
            assert put.status_code == 200, put.text
        counter = StatementCounter()
        database.statement_hook = counter
        read = await client.get(url, headers=lead.headers)
        database.statement_hook = None
        assert read.status_code == 200
        read_and_audit_in_one(counter, "legal_records")
    assert await audit_rows(database, "legal.read", uuid.UUID(case["id"])) == 2


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
