"""``GET /v1/reports/summary``: an organisation's own counts, small ones suppressed.

The auth matrix (tests/api/test_auth_matrix.py) covers no token (401) and a token without
``reports:read`` (403); the route addresses no object, so there is no other organisation's
object to hide — instead, another organisation's records never reach the counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.db.database import Database
from app.settings import Settings
from tests.api.test_access_memo import counted
from tests.api.test_referrals import act, refer
from tests.factories import PLANTED, Partner, minor_body
from tests.helpers import assert_problem, iso, open_case

URL = "/v1/reports/summary"
NOW = datetime.now(UTC)
K = 3


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Cells of 3: a report with something published in each part takes fewer records."""
    return settings.model_copy(update={"report_min_cell_size": K})


def cells(cells: list[dict[str, Any]]) -> dict[str, int | None]:
    for cell in cells:
        assert cell["suppressed"] is (cell["count"] is None)
    return {c["value"]: c["count"] for c in cells}


@pytest.fixture
async def work(client: httpx.AsyncClient, lead: Partner, clinic: Partner) -> list[dict[str, Any]]:
    """The lead's year: three adult women and a boy opened; three referrals to the clinic
    (two accepted, one declined); three placements; three follow-ups recorded."""
    adults = [await open_case(client, lead, external_ref=f"RPT-{n}") for n in range(3)]
    boy = minor_body(external_ref="RPT-3")
    boy["survivor"] = {**boy["survivor"], "gender": "male"}
    boy["exploitation"] = {**boy["exploitation"], "types": ["labour", "forced_criminality"]}
    opened = [*adults, await open_case(client, lead, **boy)]
    referrals = [await refer(client, lead, case, clinic) for case in adults]
    for referral, action, body in zip(
        referrals, ("accept", "accept", "decline"), ({}, {}, {"reason": "No capacity"}), strict=True
    ):
        response = await act(client, clinic, referral, action, **body)
        assert response.status_code == 200, response.text
    for case in adults:
        url = f"/v1/cases/{case['id']}"
        placement = {
            "org_id": str(lead.org.id),
            "setting": "ngo_shelter",
            "started_at": iso(NOW - timedelta(days=2)),
        }
        response = await client.post(f"{url}/placements", json=placement, headers=lead.headers)
        assert response.status_code == 201, response.text
        due = {"due_on": (NOW - timedelta(days=1)).date().isoformat()}
        follow_up = await client.post(f"{url}/follow-ups", json=due, headers=lead.headers)
        assert follow_up.status_code == 201, follow_up.text
        recorded = await client.post(
            f"{url}/follow-ups/{follow_up.json()['id']}/record",
            json={"contacted_at": iso(NOW - timedelta(hours=1)), "outcome": "stable"},
            headers=lead.headers,
        )
        assert recorded.status_code == 200, recorded.text
    return opened


async def test_the_lead_reads_its_own_counts_with_small_ones_suppressed(
    client: httpx.AsyncClient, lead: Partner, clinic: Partner, work: list[dict[str, Any]]
) -> None:
    response = await client.get(URL, headers=lead.headers)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    report = response.json()
    assert report["organization_id"] == str(lead.org.id)
    assert report["min_cell_size"] == K
    today = NOW.date()
    assert report["period"] == {
        "start": (today - timedelta(days=364)).isoformat(),
        "end": today.isoformat(),
    }
    cases = report["cases"]
    assert cases["opened"] == {"count": 4, "suppressed": False}
    assert cases["open_at_end"] == {"count": 4, "suppressed": False}
    assert cases["closed"] == {"count": None, "suppressed": True}  # none: zero is suppressed too
    assert cases["minors_opened"] == {"count": None, "suppressed": True}  # one
    # female 3 published, male 1 and every other value 0: suppressed, several of them, so no
    # complement is needed.
    gender = cells(cases["by_gender"])
    assert gender["female"] == 3 and gender["male"] is None
    assert all(gender[v] is None for v in gender if v != "female")
    assert cells(cases["by_exploitation_type"])["labour"] == 4
    assert cells(cases["by_exploitation_type"])["forced_criminality"] is None
    assert sum(1 for c in cases["by_age_band"] if not c["suppressed"]) <= 1

    sent = report["referrals_sent"]
    assert sent["total"]["count"] == 3 and sent["responded"]["count"] == 3
    assert cells(sent["by_service"])["medical"] == 3
    statuses = cells(sent["by_status"])
    assert statuses["accepted"] is None and statuses["declined"] is None  # 2 and 1
    assert sent["median_response_hours"] is not None and sent["median_response_hours"] >= 0
    received = report["referrals_received"]
    assert received["total"] == {"count": None, "suppressed": True}
    assert received["median_response_hours"] is None

    placements = report["placements"]
    assert placements["started"]["count"] == 3
    assert cells(placements["by_setting"])["ngo_shelter"] == 3
    assert placements["ended"]["suppressed"] is True
    follow_ups = report["follow_ups"]
    assert follow_ups["recorded"]["count"] == 3
    assert cells(follow_ups["by_outcome"])["stable"] == 3

    # Nothing of a survivor or a case: names, dates of birth, contact, places, references, ids.
    text = response.text
    for planted in PLANTED:
        assert planted not in text
    for case in work:
        assert case["id"] not in text and case["reference"] not in text

    # The receiving side sees its own part: three received, two accepted, one declined.
    theirs = (await client.get(URL, headers=clinic.headers)).json()
    assert theirs["referrals_received"]["total"]["count"] == 3
    assert theirs["referrals_sent"]["total"]["suppressed"] is True
    assert theirs["cases"]["opened"]["suppressed"] is True


async def test_another_organisations_records_never_count(
    client: httpx.AsyncClient, stranger: Partner, work: list[dict[str, Any]]
) -> None:
    report = (await client.get(URL, headers=stranger.headers)).json()
    for part in ("cases", "referrals_sent", "referrals_received", "placements", "follow_ups"):
        for name, value in report[part].items():
            if isinstance(value, dict):
                assert value == {"count": None, "suppressed": True}, (part, name)
            elif isinstance(value, list):
                assert all(c["suppressed"] for c in value), (part, name)
            else:
                assert value is None, (part, name)


async def test_a_period_counts_only_its_days(
    client: httpx.AsyncClient, lead: Partner, work: list[dict[str, Any]]
) -> None:
    last_year = {"start": "2025-01-01", "end": "2025-12-31"}
    report = (await client.get(URL, params=last_year, headers=lead.headers)).json()
    assert report["period"] == last_year
    assert report["cases"]["opened"]["suppressed"] is True
    assert report["referrals_sent"]["total"]["suppressed"] is True
    today = {"start": NOW.date().isoformat(), "end": NOW.date().isoformat()}
    report = (await client.get(URL, params=today, headers=lead.headers)).json()
    assert report["cases"]["opened"]["count"] == 4


async def test_a_report_is_audited_and_costs_the_same_statements_whatever_the_data(
    client: httpx.AsyncClient, database: Database, lead: Partner, work: list[dict[str, Any]]
) -> None:
    response, statements, sql = await counted(database, client, URL, lead)
    assert response.status_code == 200
    assert statements == 3, sql  # token status, the counts, the audit row
    async with database.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT case_ids, categories FROM audit_log WHERE org_id = $1 AND action = $2",
            lead.org.id,
            "report.summary",
        )
    assert len(rows) == 1
    assert list(rows[0]["case_ids"]) == []


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"start": "2026-02-01", "end": "2026-01-01"}, ["query", "start"]),
        ({"start": "2010-01-01", "end": "2026-01-01"}, ["query", "start"]),
        ({"start": "yesterday"}, ["query", "start"]),
        ({"end": "2026-13-01"}, ["query", "end"]),
        ({"start": "1767225600"}, ["query", "start"]),  # a Unix time is not a day
        ({"from": "2026-01-01"}, ["query"]),  # unknown (and not repeated)
    ],
)
async def test_bad_input_is_422(
    client: httpx.AsyncClient, lead: Partner, params: dict[str, str], loc: list[str]
) -> None:
    body = assert_problem(
        await client.get(URL, params=params, headers=lead.headers), 422, "validation_error"
    )
    assert [e["loc"] for e in body["errors"]] == [loc]


async def test_a_token_without_reports_read_is_403(
    client: httpx.AsyncClient, factory: Any, partner: Partner
) -> None:
    token = factory.token(partner.client, "cases:read cases:write")
    response = await client.get(URL, headers={"Authorization": f"Bearer {token}"})
    assert_problem(response, 403, "insufficient_scope")


async def test_no_token_is_401(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get(URL), 401, "invalid_token")
