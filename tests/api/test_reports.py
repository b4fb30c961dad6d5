"""``GET /v1/reports/summary``: an organisation's own counts over whole months, small ones
suppressed, all rounded.

The auth matrix (tests/api/test_auth_matrix.py) covers no token (401) and a token without
``reports:read`` (403) too; the route addresses no object, so there is no other organisation's
object to hide — instead, another organisation's records never reach the counts. Records are
made through the API and then moved into last month (a month is reported once it has ended).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.db.database import Database
from app.db.repositories import reports as repo
from tests.api.test_access_memo import counted
from tests.api.test_referrals import act, refer
from tests.factories import PLANTED, Factory, Partner, minor_body
from tests.helpers import assert_problem, iso, open_case

URL = "/v1/reports/summary"
NOW = datetime.now(UTC)
THIS_MONTH = NOW.date().replace(day=1)
LAST_MONTH = (THIS_MONTH - timedelta(days=1)).replace(day=1)


def cells(cells: list[dict[str, Any]]) -> dict[str, int | None]:
    for cell in cells:
        assert cell["suppressed"] is (cell["count"] is None)
        assert cell["count"] is None or cell["count"] % 5 == 0  # the lower end of its band
    return {c["value"]: c["count"] for c in cells}


async def into_last_month(database: Database, lead: Partner) -> None:
    """Moves the lead's cases and everything on them to the 10th of last month, noon (UTC); a
    response three hours after its referral."""
    moment = datetime.combine(LAST_MONTH.replace(day=10), datetime.min.time(), UTC)
    moment += timedelta(hours=12)
    async with database.pool.acquire() as conn:
        cases = await conn.fetchval(
            "SELECT array_agg(id) FROM cases WHERE lead_org_id = $1", lead.org.id
        )
        await conn.execute("UPDATE cases SET created_at = $1 WHERE id = ANY($2)", moment, cases)
        await conn.execute(
            # A response three hours in; an end after a response two hours later, an end
            # in the same statement as the response (declined, withdrawn while pending) with it.
            """UPDATE referrals SET created_at = $1::timestamptz,
                   responded_at = CASE WHEN responded_at IS NOT NULL
                                  THEN $1::timestamptz + interval '3 hours' END,
                   ended_at = CASE WHEN ended_at = responded_at
                                   THEN $1::timestamptz + interval '3 hours'
                                   WHEN ended_at IS NOT NULL
                                   THEN $1::timestamptz + interval '5 hours' END
               WHERE case_id = ANY($2)""",
            moment,
            cases,
        )
        await conn.execute(
            """UPDATE placements SET started_at = $1::timestamptz + interval '1 day'
               WHERE case_id = ANY($2)""",
            moment,
            cases,
        )
        await conn.execute(
            """UPDATE follow_ups SET recorded_at = $1::timestamptz + interval '2 days'
               WHERE case_id = ANY($2) AND recorded_at IS NOT NULL""",
            moment,
            cases,
        )


@pytest.fixture
async def work(
    client: httpx.AsyncClient, database: Database, lead: Partner, clinic: Partner
) -> list[dict[str, Any]]:
    """The lead's last month: six adult women and a boy opened; six referrals to the clinic
    (three accepted, one of them withdrawn since; two declined; one withdrawn while pending);
    five placements; five follow-ups recorded."""
    adults = [await open_case(client, lead, external_ref=f"RPT-{n}") for n in range(6)]
    boy = minor_body(external_ref="RPT-B")
    boy["survivor"] = {**boy["survivor"], "gender": "male"}
    boy["exploitation"] = {**boy["exploitation"], "types": ["labour", "forced_criminality"]}
    opened = [*adults, await open_case(client, lead, **boy)]
    referrals = [await refer(client, lead, case, clinic) for case in adults]
    steps = [
        (0, clinic, "accept", {}),
        (1, clinic, "accept", {}),
        (2, clinic, "accept", {}),
        (2, lead, "withdraw", {"reason": "Moved away"}),  # after it was accepted
        (3, clinic, "decline", {"reason": "No capacity"}),
        (4, clinic, "decline", {"reason": "No capacity"}),
        (5, lead, "withdraw", {"reason": "Sent in error"}),  # while pending: no response
    ]
    for index, who, action, body in steps:
        response = await act(client, who, referrals[index], action, **body)
        assert response.status_code == 200, response.text
    for case in adults[:5]:
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
    await into_last_month(database, lead)
    return opened


async def test_the_lead_reads_its_own_counts_suppressed_and_rounded(
    client: httpx.AsyncClient, lead: Partner, clinic: Partner, work: list[dict[str, Any]]
) -> None:
    response = await client.get(URL, headers=lead.headers)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    report = response.json()
    assert report["organization_id"] == str(lead.org.id)
    assert (report["min_cell_size"], report["band_width"]) == (5, 5)
    # The twelve months that have ended.
    assert report["period"]["end"] == (THIS_MONTH - timedelta(days=1)).isoformat()
    assert report["period"]["months"] == 12
    assert date.fromisoformat(report["period"]["start"]).day == 1

    cases = report["cases"]
    assert cases["opened"] == {"count": 5, "suppressed": False}  # 7: the band 5 to 9
    assert cases["open_at_end"] == {"count": 5, "suppressed": False}
    assert cases["closed"] == {"count": None, "suppressed": True}  # none: zero is suppressed too
    assert cases["minors_opened"] == {"count": None, "suppressed": True}  # one
    gender = cells(cases["by_gender"])
    assert gender["female"] == 5 and gender["male"] is None  # 6 and 1
    assert all(gender[v] is None for v in gender if v != "female")
    types = cells(cases["by_exploitation_type"])
    assert types["labour"] == 5 and types["forced_criminality"] is None

    sent = report["referrals_sent"]
    assert sent["total"]["count"] == 5  # 6
    assert sent["responded"]["count"] == 5  # 5: not the one withdrawn while pending
    assert sent["median_response_hours"] == 3
    assert cells(sent["by_service"])["medical"] == 5
    statuses = cells(sent["by_status"])
    assert all(n is None for n in statuses.values())  # 2 accepted, 2 declined, 2 withdrawn
    assert report["referrals_received"]["total"] == {"count": None, "suppressed": True}

    placements = report["placements"]
    assert placements["started"]["count"] == 5
    assert cells(placements["by_setting"])["ngo_shelter"] == 5
    assert placements["ended"]["suppressed"] is True
    follow_ups = report["follow_ups"]
    assert follow_ups["recorded"]["count"] == 5
    assert cells(follow_ups["by_outcome"])["stable"] == 5

    # Nothing of a survivor or a case: names, dates of birth, contact, places, references, ids.
    for planted in PLANTED:
        assert planted not in response.text
    for case in work:
        assert case["id"] not in response.text and case["reference"] not in response.text

    # The receiving side sees its own part: six received; nothing of the lead's cases.
    theirs = (await client.get(URL, headers=clinic.headers)).json()
    assert theirs["referrals_received"]["total"]["count"] == 5
    assert theirs["referrals_sent"]["total"]["suppressed"] is True
    assert theirs["cases"]["opened"]["suppressed"] is True
    assert theirs["follow_ups"]["recorded"]["suppressed"] is True


async def raw(
    database: Database, partner: Partner, first: date = LAST_MONTH, following: date = THIS_MONTH
) -> dict[tuple[str, str | None], int]:
    """The statement's counts for ``partner`` from ``first`` to the day before ``following``
    (default: last month), before any disclosure control."""
    session = database.session(transactional=False)
    try:
        rows = await repo.summary(
            session,
            org_id=partner.org.id,
            start=datetime.combine(first, datetime.min.time(), UTC),
            end=datetime.combine(following, datetime.min.time(), UTC),
        )
    finally:
        await session.close()
    return {(r.measure, r.value): r.count for r in rows}


async def test_the_statement_counts_what_the_report_says(
    database: Database, lead: Partner, clinic: Partner, work: list[dict[str, Any]]
) -> None:
    counts = await raw(database, lead)
    assert counts["cases.opened", None] == 7
    assert counts["cases.minors_opened", None] == 1
    assert counts["cases.by_gender", "female"] == 6 and counts["cases.by_gender", "male"] == 1
    assert counts["cases.by_exploitation_type", "labour"] == 7
    assert counts["sent.total", None] == 6
    # Accepted three times (one withdrawn since) and declined twice; not withdrawn while pending.
    assert counts["sent.responded", None] == 5
    assert counts["sent.by_status", "withdrawn"] == 2
    assert counts["placements.started", None] == 5
    assert counts["follow_ups.by_outcome", "stable"] == 5
    theirs = await raw(database, clinic)
    assert theirs["received.total", None] == 6 and theirs["received.responded", None] == 5
    assert theirs["cases.opened", None] == 0 and theirs["follow_ups.recorded", None] == 0


async def test_a_placement_counts_in_the_month_it_started_whenever_its_case_was_opened(
    client: httpx.AsyncClient, database: Database, lead: Partner
) -> None:
    """A placement recorded late, on a case opened now, started months before."""
    case = await open_case(client, lead, external_ref="RPT-LATE")
    started = NOW - timedelta(days=100)
    placement = {"org_id": str(lead.org.id), "setting": "ngo_shelter", "started_at": iso(started)}
    response = await client.post(
        f"/v1/cases/{case['id']}/placements", json=placement, headers=lead.headers
    )
    assert response.status_code == 201, response.text
    first = started.date().replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    counts = await raw(database, lead, first, following)
    assert counts["placements.started", None] == 1
    assert counts["cases.opened", None] == 0 and counts["cases.open_at_end", None] == 0


async def test_follow_ups_count_for_the_lead_whoever_scheduled_them(
    client: httpx.AsyncClient,
    database: Database,
    lead: Partner,
    clinic: Partner,
    work: list[dict[str, Any]],
) -> None:
    """A care-team member's follow-up, recorded by the lead: its outcome is `general` data of
    the lead's case, which the member may not read; it counts in the lead's report only."""
    accepted = work[0]  # the clinic accepted its referral: on the care team (medical)
    url = f"/v1/cases/{accepted['id']}/follow-ups"
    due = {"due_on": (NOW - timedelta(days=1)).date().isoformat()}
    scheduled = await client.post(url, json=due, headers=clinic.headers)
    assert scheduled.status_code == 201, scheduled.text
    recorded = await client.post(
        f"{url}/{scheduled.json()['id']}/record",
        json={"contacted_at": iso(NOW - timedelta(hours=1)), "outcome": "re_exploited"},
        headers=lead.headers,
    )
    assert recorded.status_code == 200, recorded.text
    await into_last_month(database, lead)
    assert (await raw(database, clinic))["follow_ups.recorded", None] == 0
    assert (await raw(database, lead))["follow_ups.by_outcome", "re_exploited"] == 1


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


async def test_a_period_counts_only_its_months(
    client: httpx.AsyncClient, lead: Partner, work: list[dict[str, Any]]
) -> None:
    before = (LAST_MONTH - timedelta(days=1)).replace(day=1)
    earlier = {"start_month": f"{before:%Y-%m}", "end_month": f"{before:%Y-%m}"}
    report = (await client.get(URL, params=earlier, headers=lead.headers)).json()
    assert report["period"]["start"] == before.isoformat() and report["period"]["months"] == 1
    assert report["cases"]["opened"]["suppressed"] is True
    last = {"start_month": f"{LAST_MONTH:%Y-%m}", "end_month": f"{LAST_MONTH:%Y-%m}"}
    report = (await client.get(URL, params=last, headers=lead.headers)).json()
    assert report["cases"]["opened"]["count"] == 5
    assert report["period"]["end"] == (THIS_MONTH - timedelta(days=1)).isoformat()


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
    assert "identity" not in rows[0]["categories"] and "medical" in rows[0]["categories"]


def _month(offset: int) -> str:
    first = THIS_MONTH
    for _ in range(abs(offset)):
        first = (
            (first - timedelta(days=1)).replace(day=1)
            if offset < 0
            else (first + timedelta(days=32)).replace(day=1)
        )
    return f"{first:%Y-%m}"


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"end_month": _month(0)}, ["query", "end_month"]),  # not ended yet
        ({"start_month": _month(-2), "end_month": _month(-3)}, ["query", "start_month"]),
        ({"start_month": "1999-12"}, ["query", "start_month"]),
        ({"start_month": "2010-01", "end_month": "2020-01"}, ["query", "start_month"]),  # 121
        ({"start_month": "2026-13"}, ["query", "start_month"]),
        ({"end_month": "2026-1"}, ["query", "end_month"]),
        ({"start_month": "2026-01-01"}, ["query", "start_month"]),
        ({"start_month": "9999-12"}, ["query", "start_month"]),
        ({"start_month": "0000-01"}, ["query", "start_month"]),
        ({"end_month": "0001-05"}, ["query", "end_month"]),
        ({"end_month": "1999-06"}, ["query", "end_month"]),
        ({"start_month": "\uff12\uff10\uff12\uff16-01"}, ["query", "start_month"]),
        ({"from": "2026-01"}, ["query"]),  # unknown (and not repeated)
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
    client: httpx.AsyncClient, factory: Factory, partner: Partner
) -> None:
    token = factory.token(partner.client, "cases:read cases:write")
    response = await client.get(URL, headers={"Authorization": f"Bearer {token}"})
    assert_problem(response, 403, "insufficient_scope")


async def test_no_token_is_401(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get(URL), 401, "invalid_token")
