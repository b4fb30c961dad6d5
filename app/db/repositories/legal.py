"""Legal records and the testimony pull."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any
from uuid import UUID

from app.db.database import Session
from app.db.policy_facts import POLICY_FACTS, ConsentFact
from app.db.query import PAGE_CAP, Placeholders, Query
from app.db.repositories import audit as audit_repo
from app.db.rows import Rows


@dataclass(frozen=True, slots=True)
class LegalRecordRow:
    case_id: UUID
    documents: list[dict[str, str]]
    testimony_status: str
    protective_measures: list[str]
    next_session_at: datetime | None
    prosecution_status: str
    next_hearing_at: datetime | None
    immigration_relief_type_enc: bytes | None
    immigration_relief_status: str | None
    created_at: datetime
    updated_at: datetime
    version: int


@dataclass(frozen=True, slots=True)
class TestimonyStatusRow:
    """One case of the testimony pull (defaults where it has no legal record yet), with the
    access policy's facts about the caller."""

    case_id: UUID
    reference: str
    lead_org_id: UUID
    testimony_status: str
    protective_measures: list[str]
    next_session_at: datetime | None
    next_hearing_at: datetime | None
    last_change: datetime
    member_categories: list[str] | None
    consents: list[ConsentFact]
    caller_kind: str


LEGAL_RECORD_ROWS = Rows(LegalRecordRow)
TESTIMONY_STATUS_ROWS = Rows(TestimonyStatusRow)

_COLUMNS = """
    case_id, documents, testimony_status, protective_measures, next_session_at,
    prosecution_status, next_hearing_at, immigration_relief_type_enc, immigration_relief_status,
    created_at, updated_at, version
"""

_GET = Query(f"SELECT {_COLUMNS} FROM legal_records WHERE case_id = $1", ("case_id",))  # noqa: S608
_GET_AUDITED = audit_repo.appending(_GET)

# Insert (expected version 0) or update at the expected version; nothing returned = stale.
_UPSERT = Query(
    f"""
    INSERT INTO legal_records AS l (case_id, documents, testimony_status, protective_measures,
        next_session_at, prosecution_status, next_hearing_at, immigration_relief_type_enc,
        immigration_relief_status, updated_by_org_id)
    SELECT $1, $3, $4, $5, $6, $7, $8, $9, $10, $11
    WHERE $2::int IS NULL OR $2::int = 0 OR EXISTS (SELECT 1 FROM legal_records WHERE case_id = $1)
    ON CONFLICT (case_id) DO UPDATE SET
        documents = excluded.documents, testimony_status = excluded.testimony_status,
        protective_measures = excluded.protective_measures,
        next_session_at = excluded.next_session_at,
        prosecution_status = excluded.prosecution_status,
        next_hearing_at = excluded.next_hearing_at,
        immigration_relief_type_enc = excluded.immigration_relief_type_enc,
        immigration_relief_status = excluded.immigration_relief_status,
        updated_by_org_id = excluded.updated_by_org_id,
        updated_at = now(), version = l.version + 1
    WHERE $2::int IS NULL OR l.version = $2::int
    RETURNING {_COLUMNS}
    """,  # noqa: S608 - constant text
    ("case_id", "expected_version", "documents", "testimony_status", "protective_measures",
     "next_session_at", "prosecution_status", "next_hearing_at", "relief_type_enc", "relief_status",
     "org_id"),
)  # fmt: skip

# One row per case the caller may be entitled to see in `legal` (lead, or care team with legal
# shared); the policy (consent, scopes) is then applied to each row in Python, so the page is one
# statement whatever its size. The order is each case's last change: its legal record's
# `updated_at`, or the case's `created_at` while it has none. No one index holds that order, so
# the page merges two walks that each follow an index and stop at the page size: the legal
# records by `updated_at` (ix_legal_records_updated_at) and the cases without one by `created_at`
# (ix_cases_created_at_id), each keeping only what the caller may see. Their cost follows the
# page, not the number of cases. One statement per shape (status filter, cursor), built from
# constant fragments like `referrals.page_query` (no catch-all `$n IS NULL OR …`). `OFFSET 0`:
# one index probe per row for the membership, as in `cases.list_query`.
_VISIBLE = """(c.lead_org_id = $1 OR EXISTS (
            SELECT 1 FROM case_members m
            WHERE m.case_id = c.id AND m.org_id = $1 AND m.left_at IS NULL
              AND 'legal' = ANY (m.categories) OFFSET 0))"""
# The two walks select ids and order only (index-only where they can), under the constant cap
# `PAGE_CAP` (app.db.query); the page's rows are loaded by primary key afterwards.
_WITH_RECORD = f"""
        SELECT l.case_id, l.updated_at AS last_change
        FROM legal_records l JOIN cases c ON c.id = l.case_id
        WHERE {_VISIBLE}"""  # noqa: S608 - constant text; every value is a bound parameter
_WITHOUT_RECORD = f"""
        SELECT c.id AS case_id, c.created_at AS last_change
        FROM cases c
        WHERE NOT EXISTS (SELECT 1 FROM legal_records l WHERE l.case_id = c.id)
          AND {_VISIBLE}"""  # noqa: S608 - constant text; every value is a bound parameter
_TESTIMONY_ROWS = f"""
SELECT c.id AS case_id, c.reference, c.lead_org_id,
       COALESCE(l.testimony_status, 'not_started') AS testimony_status,
       COALESCE(l.protective_measures, '{{}}') AS protective_measures,
       l.next_session_at, l.next_hearing_at, page.last_change, {POLICY_FACTS}
FROM page
JOIN cases c ON c.id = page.case_id
JOIN organizations o ON o.id = $1
LEFT JOIN legal_records l ON l.case_id = c.id
ORDER BY page.last_change, page.case_id"""  # noqa: S608 - constant text


@cache
def testimony_query(status: bool, after: bool) -> Query:
    """The testimony-pull statement for this shape. Its parameters: ``org_id``, [``status``],
    [``after_ts``, ``after_id``], ``limit``."""
    params = Placeholders("org_id")
    with_record, without_record = [_WITH_RECORD], [_WITHOUT_RECORD]
    if status:
        wanted = params.bind("status", "text")
        with_record.append(f"l.testimony_status = {wanted}")
        # A case without a record reads as not started: that walk runs for that status only.
        without_record.append(f"{wanted} = 'not_started'")
    if after:
        cursor = params.cursor("after")
        with_record.append(f"(l.updated_at, l.case_id) > {cursor}")
        without_record.append(f"(c.created_at, c.id) > {cursor}")
    return params.query(
        "WITH page AS (\n    SELECT * FROM (\n    ("  # noqa: S608 - constant fragments
        + "\n          AND ".join(with_record)
        + f"\n        ORDER BY l.updated_at, l.case_id LIMIT {PAGE_CAP})\n    UNION ALL\n    ("
        + "\n          AND ".join(without_record)
        + f"\n        ORDER BY c.created_at, c.id LIMIT {PAGE_CAP})\n    ) walks"
        + f"\n    ORDER BY last_change, case_id LIMIT {params.bind('limit')}\n)"
        + _TESTIMONY_ROWS
    )


_GET_MANY = Query(
    f"SELECT {_COLUMNS} FROM legal_records WHERE case_id = ANY ($1::uuid[])",  # noqa: S608
    ("case_ids",),
)


async def get_many(session: Session, case_ids: list[UUID]) -> list[LegalRecordRow]:
    return LEGAL_RECORD_ROWS.many(await session.fetch(_GET_MANY, case_ids=case_ids))


async def get(session: Session, case_id: UUID) -> LegalRecordRow | None:
    return LEGAL_RECORD_ROWS.one(await session.fetchrow(_GET, case_id=case_id))


async def get_audited(
    session: Session, case_id: UUID, *, audit: Mapping[str, Any]
) -> LegalRecordRow | None:
    """:func:`get` with the read's audit row ``audit`` (as ``audit.append`` takes it) appended
    in the same statement: one round trip."""
    return LEGAL_RECORD_ROWS.one(
        await session.fetchrow(
            _GET_AUDITED, audit_repo.appended_params(session, audit), case_id=case_id
        )
    )


async def upsert(session: Session, **values: Any) -> LegalRecordRow | None:
    return LEGAL_RECORD_ROWS.one(await session.fetchrow(_UPSERT, values))


async def testimony_page(
    session: Session,
    *,
    org_id: UUID,
    status: str | None,
    after_ts: datetime | None,
    after_id: UUID | None,
    limit: int,
) -> list[TestimonyStatusRow]:
    if limit > PAGE_CAP:
        raise ValueError(f"a page holds at most {PAGE_CAP} rows")
    after = after_ts is not None
    query = testimony_query(status is not None, after)
    params: dict[str, Any] = {"org_id": org_id, "limit": limit}
    if status is not None:
        params["status"] = status
    if after:
        params.update(after_ts=after_ts, after_id=after_id)
    return TESTIMONY_STATUS_ROWS.many(await session.fetch(query, params))
