"""Placements, home reviews and visits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any
from uuid import UUID

from app.db.database import Session
from app.db.policy_facts import POLICY_FACTS, ConsentFact
from app.db.query import Placeholders, Query
from app.db.repositories import audit as audit_repo
from app.db.rows import Rows


@dataclass(frozen=True, slots=True)
class PlacementRow:
    id: UUID
    case_id: UUID
    org_id: UUID
    placed_by_org_id: UUID
    setting: str
    home_review_id: UUID | None
    started_at: datetime
    ended_at: datetime | None
    exit_reason: str | None
    authorization_ref_enc: bytes | None
    created_at: datetime
    updated_at: datetime
    version: int
    last_visit_at: datetime | None


@dataclass(frozen=True, slots=True)
class HomeReviewRow:
    id: UUID
    case_id: UUID
    reviewer_org_id: UUID
    reviewed_at: datetime
    result: str
    notes_enc: bytes | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class HomeReviewResultRow:
    """What a new placement checks of the home review it names."""

    id: UUID
    case_id: UUID
    result: str


@dataclass(frozen=True, slots=True)
class VisitRow:
    id: UUID
    placement_id: UUID
    visitor_org_id: UUID
    visited_at: datetime
    summary_enc: bytes
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OverdueVisitRow:
    """An active home-based placement due a visit, with the access policy's facts."""

    id: UUID
    case_id: UUID
    reference: str
    org_id: UUID
    setting: str
    started_at: datetime
    last_visit_at: datetime | None
    lead_org_id: UUID
    member_categories: list[str] | None
    consents: list[ConsentFact]
    caller_kind: str

    @property
    def last_seen_at(self) -> datetime:
        """What the overdue list is sorted by: the last visit, else the start."""
        return self.last_visit_at or self.started_at


PLACEMENT_ROWS = Rows(PlacementRow)
HOME_REVIEW_ROWS = Rows(HomeReviewRow)
HOME_REVIEW_RESULT_ROWS = Rows(HomeReviewResultRow)
VISIT_ROWS = Rows(VisitRow)
OVERDUE_VISIT_ROWS = Rows(OverdueVisitRow)

_PLACEMENT = """
    p.id, p.case_id, p.org_id, p.placed_by_org_id, p.setting, p.home_review_id, p.started_at,
    p.ended_at, p.exit_reason, p.authorization_ref_enc, p.created_at, p.updated_at, p.version,
    (SELECT max(v.visited_at) FROM placement_visits v WHERE v.placement_id = p.id) AS last_visit_at
"""

_INSERT = Query(
    """
    INSERT INTO placements (id, case_id, org_id, placed_by_org_id, setting, home_review_id,
                            started_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT DO NOTHING
    RETURNING id
    """,
    ("id", "case_id", "org_id", "placed_by_org_id", "setting", "home_review_id", "started_at"),
)
_GET = Query(
    f"SELECT {_PLACEMENT} FROM placements p WHERE p.id = $1 AND p.case_id = $2",  # noqa: S608
    ("id", "case_id"),
)


# A case's placements, oldest first, with the read's audit row appended in the same statement.
# A statement with a cursor and one without (no catch-all `$n IS NULL OR …`, whose one generic
# plan could not bound the scan by the cursor), compiled once per process.
@cache
def list_query(after: bool) -> Query:
    """Parameters: the audit row's, ``case_id``, [``after_ts``, ``after_id``], ``limit``."""
    params = Placeholders("case_id")
    cursor = f" AND (p.started_at, p.id) > {params.cursor('after')}" if after else ""
    return audit_repo.appending(
        params.query(
            f"SELECT {_PLACEMENT} FROM placements p WHERE p.case_id = $1{cursor}"  # noqa: S608
            f" ORDER BY p.started_at, p.id LIMIT {params.bind('limit')}"
        )
    )


_END = Query(
    """
    UPDATE placements SET ended_at = $3, exit_reason = $4, authorization_ref_enc = $5,
                          updated_at = now(), version = version + 1
    WHERE id = $1 AND case_id = $2 AND ended_at IS NULL
    RETURNING id
    """,
    ("id", "case_id", "ended_at", "exit_reason", "authorization_ref_enc"),
)

_INSERT_REVIEW = Query(
    """
    INSERT INTO home_reviews (id, case_id, reviewer_org_id, reviewed_at, result, notes_enc)
    VALUES ($1, $2, $3, $4, $5, $6)
    RETURNING id, case_id, reviewer_org_id, reviewed_at, result, notes_enc, created_at
    """,
    ("id", "case_id", "reviewer_org_id", "reviewed_at", "result", "notes_enc"),
)
_GET_REVIEW = Query(
    "SELECT id, case_id, result FROM home_reviews WHERE id = $1 AND case_id = $2",
    ("id", "case_id"),
)
_INSERT_VISIT = Query(
    """
    INSERT INTO placement_visits (id, placement_id, visitor_org_id, visited_at, summary_enc)
    VALUES ($1, $2, $3, $4, $5)
    RETURNING id, placement_id, visitor_org_id, visited_at, summary_enc, created_at
    """,
    ("id", "placement_id", "visitor_org_id", "visited_at", "summary_enc"),
)

# Active home-based placements of cases the caller leads or placed, whose last visit (or start)
# is more than 7 days ago — one statement for the page (one with a cursor, one without); the
# access policy is applied per row.
_OVERDUE = f"""
    SELECT * FROM (
        SELECT p.id, p.case_id, c.reference, p.org_id, p.setting, p.started_at,
               (SELECT max(v.visited_at) FROM placement_visits v WHERE v.placement_id = p.id)
                   AS last_visit_at,
               c.lead_org_id, {POLICY_FACTS}
        FROM placements p
        JOIN cases c ON c.id = p.case_id
        JOIN organizations o ON o.id = $1
        WHERE p.ended_at IS NULL
          AND p.setting IN ('community_family', 'foster_family')
          AND (c.lead_org_id = $1 OR p.placed_by_org_id = $1)
    ) AS due
    WHERE COALESCE(due.last_visit_at, due.started_at) < $2::timestamptz
"""  # noqa: S608 - constant text; every value is a bound parameter


@cache
def overdue_query(after: bool) -> Query:
    """Parameters: ``org_id``, ``due_before``, [``after_ts``, ``after_id``], ``limit``."""
    params = Placeholders("org_id", "due_before")
    cursor = (
        f" AND (COALESCE(due.last_visit_at, due.started_at), due.id) > {params.cursor('after')}"
        if after
        else ""
    )
    return params.query(
        f"{_OVERDUE}{cursor} ORDER BY COALESCE(due.last_visit_at, due.started_at), due.id"
        f" LIMIT {params.bind('limit')}"
    )


# The first page of the placements of several cases at once (at most `limit` per case), each
# case's read on its own and stopped at the limit (a lateral join; a window function numbered
# every placement of every case of the page).
@cache
def pages_query(after: bool) -> Query:
    """Parameters: ``case_ids``, [``after_ts``, ``after_id``], ``limit``."""
    params = Placeholders("case_ids")
    cursor = f" AND (p.started_at, p.id) > {params.cursor('after')}" if after else ""
    return params.query(
        "SELECT p.* FROM (SELECT DISTINCT unnest($1::uuid[]) AS case_id) AS wanted"  # noqa: S608
        f" CROSS JOIN LATERAL (SELECT {_PLACEMENT} FROM placements p"
        f" WHERE p.case_id = wanted.case_id{cursor}"
        f" ORDER BY p.started_at, p.id LIMIT {params.bind('limit')}) p"
        " ORDER BY p.case_id, p.started_at, p.id"
    )


async def pages_for_cases(session: Session, **params: Any) -> list[PlacementRow]:
    query = pages_query(params.get("after_ts") is not None)
    return PLACEMENT_ROWS.many(await session.fetch(query, params))


async def insert(session: Session, **values: Any) -> UUID | None:
    inserted: UUID | None = await session.fetchval(_INSERT, values)
    return inserted


async def get(session: Session, placement_id: UUID, case_id: UUID) -> PlacementRow | None:
    return PLACEMENT_ROWS.one(await session.fetchrow(_GET, id=placement_id, case_id=case_id))


async def list_page(
    session: Session, *, audit: Mapping[str, Any], **params: Any
) -> list[PlacementRow]:
    """A page of the case's placements, with the read's audit row ``audit`` (as
    ``audit.append`` takes it) appended in the same statement: one round trip."""
    return PLACEMENT_ROWS.many(
        await session.fetch(
            list_query(params.get("after_ts") is not None),
            audit_repo.appended_params(session, audit),
            **params,
        )
    )


async def end(session: Session, **values: Any) -> bool:
    return await session.fetchval(_END, values) is not None


async def insert_review(session: Session, **values: Any) -> HomeReviewRow:
    row = HOME_REVIEW_ROWS.one(await session.fetchrow(_INSERT_REVIEW, values))
    assert row is not None
    return row


async def get_review(
    session: Session, review_id: UUID, case_id: UUID
) -> HomeReviewResultRow | None:
    return HOME_REVIEW_RESULT_ROWS.one(
        await session.fetchrow(_GET_REVIEW, id=review_id, case_id=case_id)
    )


async def insert_visit(session: Session, **values: Any) -> VisitRow:
    row = VISIT_ROWS.one(await session.fetchrow(_INSERT_VISIT, values))
    assert row is not None
    return row


async def overdue_page(session: Session, **params: Any) -> list[OverdueVisitRow]:
    return OVERDUE_VISIT_ROWS.many(
        await session.fetch(overdue_query(params.get("after_ts") is not None), params)
    )
