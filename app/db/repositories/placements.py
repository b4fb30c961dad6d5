"""Placements, home reviews and visits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from app.db.database import Session
from app.db.policy_facts import POLICY_FACTS, ConsentFact
from app.db.query import Query
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
_LIST = Query(
    f"""
    SELECT {_PLACEMENT} FROM placements p WHERE p.case_id = $1
      AND ($2::timestamptz IS NULL OR (p.started_at, p.id) > ($2::timestamptz, $3::uuid))
    ORDER BY p.started_at, p.id LIMIT $4
    """,  # noqa: S608 - constant text
    ("case_id", "after_ts", "after_id", "limit"),
)
_LIST_AUDITED = audit_repo.appending(_LIST)
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
# is more than 7 days ago — one statement for the page; the access policy is applied per row.
_OVERDUE = Query(
    f"""
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
      AND ($3::timestamptz IS NULL
           OR (COALESCE(due.last_visit_at, due.started_at), due.id) > ($3::timestamptz, $4::uuid))
    ORDER BY COALESCE(due.last_visit_at, due.started_at), due.id
    LIMIT $5
    """,  # noqa: S608 - constant text; every value is a bound parameter
    ("org_id", "due_before", "after_ts", "after_id", "limit"),
)


# The first page of the placements of several cases at once (at most `limit` per case).
_PAGES_FOR_CASES = Query(
    f"""
    SELECT id, case_id, org_id, placed_by_org_id, setting, home_review_id, started_at, ended_at,
           exit_reason, authorization_ref_enc, created_at, updated_at, version, last_visit_at
    FROM (
        SELECT {_PLACEMENT},
               row_number() OVER (PARTITION BY p.case_id ORDER BY p.started_at, p.id) AS position
        FROM placements p
        WHERE p.case_id = ANY ($1::uuid[])
          AND ($2::timestamptz IS NULL OR (p.started_at, p.id) > ($2::timestamptz, $3::uuid))
    ) ranked
    WHERE position <= $4
    ORDER BY case_id, started_at, id
    """,  # noqa: S608 - constant text; every value is a bound parameter
    ("case_ids", "after_ts", "after_id", "limit"),
)


async def pages_for_cases(session: Session, **params: Any) -> list[PlacementRow]:
    return PLACEMENT_ROWS.many(await session.fetch(_PAGES_FOR_CASES, params))


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
        await session.fetch(_LIST_AUDITED, audit_repo.appended_params(session, audit), **params)
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
    return OVERDUE_VISIT_ROWS.many(await session.fetch(_OVERDUE, params))
