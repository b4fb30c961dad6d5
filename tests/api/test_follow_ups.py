"""Follow-ups after exit: scheduling, recording outcomes, raising the risk level."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from tests.factories import Partner
from tests.helpers import (
    assert_problem,
    iso,
    open_case,
)

NOW = datetime.now(UTC)


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
