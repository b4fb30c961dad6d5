"""Follow-ups after exit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from app.db.database import Session
from app.db.policy_facts import POLICY_FACTS, ConsentFact
from app.db.query import Query
from app.db.rows import Rows


@dataclass(frozen=True, slots=True)
class FollowUpRow:
    id: UUID
    case_id: UUID
    org_id: UUID
    due_on: date
    contacted_at: datetime | None
    outcome: str | None
    recorded_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


@dataclass(frozen=True, slots=True)
class DueFollowUpRow(FollowUpRow):
    """A follow-up due, with its case's reference and the access policy's facts."""

    reference: str
    lead_org_id: UUID
    member_categories: list[str] | None
    consents: list[ConsentFact]
    caller_kind: str


FOLLOW_UP_ROWS = Rows(FollowUpRow)
DUE_FOLLOW_UP_ROWS = Rows(DueFollowUpRow)

_COLUMNS = """
    f.id, f.case_id, f.org_id, f.due_on, f.contacted_at, f.outcome, f.recorded_at, f.created_at,
    f.updated_at, f.version
"""

_INSERT = Query(
    f"""
    INSERT INTO follow_ups AS f (id, case_id, org_id, due_on) VALUES ($1, $2, $3, $4)
    RETURNING {_COLUMNS}
    """,  # noqa: S608 - constant text
    ("id", "case_id", "org_id", "due_on"),
)
_GET = Query(
    f"SELECT {_COLUMNS} FROM follow_ups f WHERE f.id = $1 AND f.case_id = $2",  # noqa: S608
    ("id", "case_id"),
)
_RECORD = Query(
    f"""
    UPDATE follow_ups AS f SET contacted_at = $3, outcome = $4, recorded_at = now(),
                               updated_at = now(), version = f.version + 1
    WHERE f.id = $1 AND f.case_id = $2 AND f.recorded_at IS NULL
    RETURNING {_COLUMNS}
    """,  # noqa: S608 - constant text
    ("id", "case_id", "contacted_at", "outcome"),
)
# Only ever raises: a concurrent edit to a higher level is never lowered back.
_SET_RISK = Query(
    """
    UPDATE cases SET risk_level = $2, updated_at = now(), version = version + 1
    WHERE id = $1 AND (risk_level IS NULL
        OR array_position(ARRAY['low', 'medium', 'high', 'critical'], risk_level)
         < array_position(ARRAY['low', 'medium', 'high', 'critical'], $2::text))
    """,
    ("id", "risk_level"),
)
# A partner's open follow-ups due by a day, soonest first: one statement with a cursor and one
# without (no `$3 IS NULL OR …`), so the cursor's row comparison is an index condition on
# ix_follow_ups_org_open_due and a deep page does not read the rows before it.
_DUE_HEAD = f"""
    SELECT {_COLUMNS}, c.reference, c.lead_org_id, {POLICY_FACTS}
    FROM follow_ups f
    JOIN cases c ON c.id = f.case_id
    JOIN organizations o ON o.id = $1
    WHERE f.org_id = $1 AND f.recorded_at IS NULL AND f.due_on <= $2
"""  # noqa: S608 - constant text; every value is a bound parameter
_DUE = Query(_DUE_HEAD + "    ORDER BY f.due_on, f.id LIMIT $3", ("org_id", "due_before", "limit"))
_DUE_AFTER = Query(
    _DUE_HEAD
    + "      AND (f.due_on, f.id) > ($3::date, $4::uuid)\n    ORDER BY f.due_on, f.id LIMIT $5",
    ("org_id", "due_before", "after_due", "after_id", "limit"),
)


async def insert(session: Session, **values: Any) -> FollowUpRow:
    row = FOLLOW_UP_ROWS.one(await session.fetchrow(_INSERT, values))
    assert row is not None
    return row


async def get(session: Session, follow_up_id: UUID, case_id: UUID) -> FollowUpRow | None:
    return FOLLOW_UP_ROWS.one(await session.fetchrow(_GET, id=follow_up_id, case_id=case_id))


async def record(session: Session, **values: Any) -> FollowUpRow | None:
    return FOLLOW_UP_ROWS.one(await session.fetchrow(_RECORD, values))


async def set_risk(session: Session, case_id: UUID, risk_level: str) -> None:
    await session.execute(_SET_RISK, id=case_id, risk_level=risk_level)


async def due_page(
    session: Session,
    *,
    org_id: UUID,
    due_before: date,
    after_due: date | None,
    after_id: UUID | None,
    limit: int,
) -> list[DueFollowUpRow]:
    params: dict[str, Any] = {"org_id": org_id, "due_before": due_before, "limit": limit}
    if after_due is None:
        return DUE_FOLLOW_UP_ROWS.many(await session.fetch(_DUE, params))
    params.update(after_due=after_due, after_id=after_id)
    return DUE_FOLLOW_UP_ROWS.many(await session.fetch(_DUE_AFTER, params))
