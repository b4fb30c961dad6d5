"""``reportSummary``: the aggregate report through GraphQL, the same counts as
``GET /v1/reports/summary`` (tests/api/test_reports.py holds what they count).

The report addresses no object, so there is no other organisation's object to hide; instead,
another organisation's records never reach the counts (checked here through GraphQL too).
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from app.db.database import Database
from tests.api.test_reports import LAST_MONTH, URL, _month, work
from tests.factories import Factory, Partner
from tests.graphql.helpers import GRAPHQL, data_of, gql, only_error
from tests.helpers import assert_unauthorized

__all__ = ["work"]  # (the fixture, shared with the REST tests)

COUNT = "{ count suppressed }"
CELLS = "{ value count suppressed }"
FLOW = (
    f"{{ total {COUNT} byStatus {CELLS} byService {CELLS} responded {COUNT} medianResponseHours }}"
)
REPORT = f"""
query Report($start: String, $end: String) {{
  reportSummary(startMonth: $start, endMonth: $end) {{
    organizationId generatedAt minCellSize bandWidth
    period {{ start end months }}
    cases {{
      opened {COUNT} closed {COUNT} openAtEnd {COUNT} minorsOpened {COUNT}
      byAgeBand {CELLS} byGender {CELLS} byExploitationType {CELLS}
    }}
    referralsSent {FLOW}
    referralsReceived {FLOW}
    placements {{ started {COUNT} bySetting {CELLS} ended {COUNT} byExitReason {CELLS} }}
    followUps {{ recorded {COUNT} byOutcome {CELLS} }}
  }}
}}
"""


def snake(value: Any) -> Any:
    """A GraphQL answer with REST's field names."""
    if isinstance(value, dict):
        return {re.sub("([A-Z])", r"_\1", k).lower(): snake(v) for k, v in value.items()}
    if isinstance(value, list):
        return [snake(v) for v in value]
    return value


@pytest.mark.parametrize("period", ["default", "last month"])
async def test_the_same_counts_as_rest(
    client: httpx.AsyncClient,
    lead: Partner,
    clinic: Partner,
    stranger: Partner,
    work: list[dict[str, Any]],
    period: str,
) -> None:
    months = (
        {}
        if period == "default"
        else {"start_month": f"{LAST_MONTH:%Y-%m}", "end_month": f"{LAST_MONTH:%Y-%m}"}
    )
    variables = {"start": months.get("start_month"), "end": months.get("end_month")}
    for who in (lead, clinic, stranger):  # the sender, the receiver, and one with nothing
        rest = (await client.get(URL, params=months, headers=who.headers)).json()
        report = snake(data_of(await gql(client, who, REPORT, variables)))["report_summary"]
        assert report.pop("generated_at") and rest.pop("generated_at")
        assert report == rest
    if period == "last month":
        assert rest["cases"]["opened"] == {"count": None, "suppressed": True}  # (the stranger)
        lead_report = data_of(await gql(client, lead, REPORT, variables))["reportSummary"]
        assert lead_report["cases"]["opened"] == {"count": 5, "suppressed": False}


async def test_a_report_is_audited_once(
    client: httpx.AsyncClient, database: Database, lead: Partner
) -> None:
    data_of(await gql(client, lead, "{ reportSummary { bandWidth } }"))
    async with database.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT case_ids, categories FROM audit_log WHERE org_id = $1 AND action = $2",
            lead.org.id,
            "report.summary",
        )
    assert len(rows) == 1 and list(rows[0]["case_ids"]) == []
    assert "identity" not in rows[0]["categories"]


@pytest.mark.parametrize(
    ("variables", "loc"),
    [
        ({"start": "2026-13"}, ["startMonth"]),
        ({"end": "2026-1"}, ["endMonth"]),
        ({"start": "2026-01-01"}, ["startMonth"]),
        ({"start": "\uff12\uff10\uff12\uff16-01"}, ["startMonth"]),
        ({"end": _month(0)}, ["endMonth"]),  # not ended yet
        ({"start": _month(-2), "end": _month(-3)}, ["startMonth"]),  # after the end
        ({"start": "1999-12"}, ["startMonth"]),  # before the earliest
        ({"start": "2010-01", "end": "2020-01"}, ["startMonth"]),  # 121 months
    ],
)
async def test_bad_months_are_validation_errors_and_audit_nothing(
    client: httpx.AsyncClient,
    database: Database,
    lead: Partner,
    variables: dict[str, str],
    loc: list[str],
) -> None:
    result = await gql(client, lead, REPORT, variables)
    error = only_error(result, "validation_error")
    assert [e["loc"] for e in error["extensions"]["errors"]] == [loc]
    assert result["data"] == {"reportSummary": None}
    for value in variables.values():
        assert value not in error["message"]  # (a rejected value is never repeated)
    async with database.pool.acquire() as conn:
        audited = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'report.summary'"
        )
    assert audited == 0


async def test_messages_use_graphqls_names_and_name_every_bad_month(
    client: httpx.AsyncClient, lead: Partner
) -> None:
    after = await gql(client, lead, REPORT, {"start": _month(-2), "end": _month(-3)})
    error = only_error(after, "validation_error")
    assert error["message"] == "`startMonth` must not be after `endMonth`"
    assert error["extensions"]["errors"][0]["msg"] == error["message"]
    both = only_error(
        await gql(client, lead, REPORT, {"start": "x", "end": "y"}), "validation_error"
    )
    assert [e["loc"] for e in both["extensions"]["errors"]] == [["startMonth"], ["endMonth"]]


async def test_one_report_a_request(
    client: httpx.AsyncClient, database: Database, lead: Partner
) -> None:
    """Each report reads all of the organisation's work over its period: aliases don't buy more
    of them than REST's rate limit allows (a request, one report)."""
    query = "{ a: reportSummary { bandWidth } b: reportSummary { bandWidth } }"
    result = await gql(client, lead, query)
    error = only_error(result, "validation_error")
    assert "once per request" in error["message"]
    answered = [v for v in result["data"].values() if v is not None]
    assert answered == [{"bandWidth": 5}]
    async with database.pool.acquire() as conn:
        audited = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'report.summary'"
        )
    assert audited == 1


async def test_a_token_without_reports_read_gets_insufficient_scope(
    client: httpx.AsyncClient, factory: Factory, partner: Partner
) -> None:
    token = factory.token(partner.client, "cases:read cases:write")
    result = await gql(client, {"Authorization": f"Bearer {token}"}, REPORT)
    error = only_error(result, "insufficient_scope")
    assert error["extensions"]["requiredScopes"] == ["reports:read"]
    assert result["data"] == {"reportSummary": None}


async def test_no_token_is_401(client: httpx.AsyncClient) -> None:
    assert_unauthorized(await client.post(GRAPHQL, json={"query": REPORT}))
