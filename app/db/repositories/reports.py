"""The aggregate report's counts: one statement, a row per (measure, value).

Every count is of one organisation's own records (the cases it leads now, the referrals it sent
or received, the placements and follow-ups on the cases it leads) over a period; nothing here is
suppressed or banded yet (``app.domain.report_rules`` does that). The cases are found through
``ix_cases_lead_org_id_updated_at_id``, the referrals through
``ix_referrals_{from,to}_org_id_created_at_id``; placements and follow-ups are joined to the
lead's cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from app.db.database import Session
from app.db.query import Query
from app.db.repositories.referrals import EFFECTIVE_STATUS
from app.db.rows import Rows


@dataclass(frozen=True, slots=True)
class ReportRow:
    measure: str  # e.g. "cases.by_gender"
    value: str | None  # the breakdown's value; None for a total
    count: int
    median: float | None  # referrals' median response time (hours), else None


REPORT_ROWS = Rows(ReportRow)

# A response is the receiver's: accepted (whatever happened after) or declined. A referral
# withdrawn or expired while pending also left `pending`, but nobody responded to it; one
# withdrawn after it was accepted was answered first (a withdrawal while pending stamps
# `responded_at` and `ended_at` in the same statement, so they are equal).
_RESPONDED = """(r.status IN ('accepted', 'in_progress', 'completed', 'failed', 'declined')
    OR (r.status = 'withdrawn' AND r.responded_at < r.ended_at))"""

_FLOW = f"""
    SELECT r.service, {EFFECTIVE_STATUS} AS status,
           CASE WHEN {_RESPONDED}
                THEN extract(epoch FROM r.responded_at - r.created_at) / 3600 END
               AS response_hours
    FROM referrals r
    WHERE r.{{party}}_org_id = $1 AND r.created_at >= $2 AND r.created_at < $3
"""  # noqa: S608 - constant text; `party` is "from" or "to", below

# $1 the organisation, [$2, $3) the period's instants.
_SUMMARY = Query(
    f"""
    WITH led AS MATERIALIZED (
        SELECT c.id, c.created_at, c.closed_at, c.age_band, c.gender, c.is_minor,
               c.exploitation_types
        FROM cases c
        WHERE c.lead_org_id = $1
    ),
    opened AS MATERIALIZED (SELECT * FROM led WHERE created_at >= $2 AND created_at < $3),
    sent AS MATERIALIZED ({_FLOW.format(party="from")}),
    received AS MATERIALIZED ({_FLOW.format(party="to")}),
    placed AS MATERIALIZED (
        SELECT p.setting, p.started_at, p.ended_at, p.exit_reason
        FROM placements p JOIN led ON led.id = p.case_id
        WHERE (p.started_at >= $2 AND p.started_at < $3)
           OR (p.ended_at >= $2 AND p.ended_at < $3)
    ),
    recorded AS MATERIALIZED (
        SELECT f.outcome FROM follow_ups f JOIN led ON led.id = f.case_id
        WHERE f.recorded_at >= $2 AND f.recorded_at < $3
    )
    SELECT 'cases.opened' AS measure, NULL::text AS value, count(*) AS count,
           NULL::float8 AS median FROM opened
    UNION ALL SELECT 'cases.minors_opened', NULL, count(*) FILTER (WHERE is_minor), NULL
        FROM opened
    UNION ALL SELECT 'cases.by_age_band', age_band, count(*), NULL FROM opened GROUP BY 2
    UNION ALL SELECT 'cases.by_gender', gender, count(*), NULL FROM opened GROUP BY 2
    UNION ALL SELECT 'cases.by_exploitation_type', t, count(DISTINCT id), NULL
        FROM opened, unnest(exploitation_types) AS t GROUP BY 2
    UNION ALL SELECT 'cases.closed', NULL, count(*), NULL FROM led
        WHERE closed_at >= $2 AND closed_at < $3
    UNION ALL SELECT 'cases.open_at_end', NULL, count(*), NULL FROM led
        WHERE created_at < $3 AND (closed_at IS NULL OR closed_at >= $3)
    UNION ALL SELECT 'sent.total', NULL, count(*),
        percentile_cont(0.5) WITHIN GROUP (ORDER BY response_hours) FROM sent
    UNION ALL SELECT 'sent.responded', NULL, count(response_hours), NULL FROM sent
    UNION ALL SELECT 'sent.by_status', status, count(*), NULL FROM sent GROUP BY 2
    UNION ALL SELECT 'sent.by_service', service, count(*), NULL FROM sent GROUP BY 2
    UNION ALL SELECT 'received.total', NULL, count(*),
        percentile_cont(0.5) WITHIN GROUP (ORDER BY response_hours) FROM received
    UNION ALL SELECT 'received.responded', NULL, count(response_hours), NULL FROM received
    UNION ALL SELECT 'received.by_status', status, count(*), NULL FROM received GROUP BY 2
    UNION ALL SELECT 'received.by_service', service, count(*), NULL FROM received GROUP BY 2
    UNION ALL SELECT 'placements.started', NULL, count(*), NULL FROM placed
        WHERE started_at >= $2 AND started_at < $3
    UNION ALL SELECT 'placements.by_setting', setting, count(*), NULL FROM placed
        WHERE started_at >= $2 AND started_at < $3 GROUP BY 2
    UNION ALL SELECT 'placements.ended', NULL, count(*), NULL FROM placed
        WHERE ended_at >= $2 AND ended_at < $3
    UNION ALL SELECT 'placements.by_exit_reason', exit_reason, count(*), NULL FROM placed
        WHERE ended_at >= $2 AND ended_at < $3 GROUP BY 2
    UNION ALL SELECT 'follow_ups.recorded', NULL, count(*), NULL FROM recorded
    UNION ALL SELECT 'follow_ups.by_outcome', outcome, count(*), NULL FROM recorded GROUP BY 2
    """,  # noqa: S608 - constant text; every value is a bound parameter
    ("org_id", "start", "end"),
)


async def summary(
    session: Session, *, org_id: UUID, start: datetime, end: datetime
) -> list[ReportRow]:
    return REPORT_ROWS.many(
        await session.fetch(_SUMMARY, {"org_id": org_id, "start": start, "end": end})
    )
