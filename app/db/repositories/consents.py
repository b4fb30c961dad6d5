"""Consent records."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from app.db.database import Session
from app.db.query import Query
from app.db.repositories import audit as audit_repo
from app.db.rows import Rows

_COLUMNS = """
    id, case_id, granted_by, recipient_org_id, recipient_kinds, categories, purpose_enc,
    obtained_at, expires_at, evidence_ref_enc, revoked_at, revoke_reason_enc, created_at,
    updated_at, version
"""


@dataclass(frozen=True, slots=True)
class ConsentRow:
    id: UUID
    case_id: UUID
    granted_by: list[str]
    recipient_org_id: UUID | None
    recipient_kinds: list[str]
    categories: list[str]
    purpose_enc: bytes
    obtained_at: datetime
    expires_at: datetime | None
    evidence_ref_enc: bytes | None
    revoked_at: datetime | None
    revoke_reason_enc: bytes | None
    created_at: datetime
    updated_at: datetime
    version: int


CONSENT_ROWS = Rows(ConsentRow)


@dataclass(frozen=True, slots=True)
class ListedConsentRow(ConsentRow):
    """A consent of a page read by :func:`list_page_audited`; ``audited``: the page's audit
    row was appended (it is whenever the page has a consent)."""

    audited: bool


LISTED_CONSENT_ROWS = Rows(ListedConsentRow)

_INSERT = Query(
    f"""
    INSERT INTO consents (id, case_id, granted_by, recipient_org_id, recipient_kinds, categories,
                          purpose_enc, obtained_at, expires_at, evidence_ref_enc,
                          recorded_by_org_id)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
    RETURNING {_COLUMNS}
    """,  # noqa: S608 - constant text
    ("id", "case_id", "granted_by", "recipient_org_id", "recipient_kinds", "categories",
     "purpose_enc", "obtained_at", "expires_at", "evidence_ref_enc", "recorded_by_org_id"),
)  # fmt: skip

# Lead: every consent of the case. Anyone else: only those addressed to it (by id or by kind).
_LIST = Query(
    f"""
    SELECT {_COLUMNS} FROM consents s
    WHERE s.case_id = $1
      AND ($2::uuid IS NULL OR s.recipient_org_id = $2::uuid OR $3::text = ANY (s.recipient_kinds))
      AND ($4::timestamptz IS NULL OR (s.created_at, s.id) > ($4::timestamptz, $5::uuid))
    ORDER BY s.created_at, s.id
    LIMIT $6
    """,  # noqa: S608 - constant text
    ("case_id", "only_for_org", "only_for_kind", "after_ts", "after_id", "limit"),
)
# `_LIST` with the page's audit row appended in the same statement, when the page has a row.
_LIST_AUDITED = audit_repo.appending(_LIST, when=Query("TRUE"))

_REVOKE = Query(
    f"""
    UPDATE consents SET revoked_at = now(), revoke_reason_enc = $3, updated_at = now(),
                        version = version + 1
    WHERE id = $1 AND case_id = $2 AND revoked_at IS NULL
    RETURNING {_COLUMNS}
    """,  # noqa: S608 - constant text
    ("id", "case_id", "reason_enc"),
)
_GET = Query(
    f"SELECT {_COLUMNS} FROM consents WHERE id = $1 AND case_id = $2",  # noqa: S608
    ("id", "case_id"),
)


async def insert(session: Session, **values: Any) -> ConsentRow:
    row = CONSENT_ROWS.one(await session.fetchrow(_INSERT, values))
    assert row is not None
    return row


async def list_page(session: Session, **params: Any) -> list[ConsentRow]:
    return CONSENT_ROWS.many(await session.fetch(_LIST, params))


async def list_page_audited(
    session: Session, *, audit: Mapping[str, Any], **params: Any
) -> list[ListedConsentRow]:
    """:func:`list_page` with the read's audit row ``audit`` (as ``audit.append`` takes it)
    appended in the same statement when the page has a consent: one round trip."""
    return LISTED_CONSENT_ROWS.many(
        await session.fetch(_LIST_AUDITED, audit_repo.appended_params(session, audit), **params)
    )


async def revoke(
    session: Session, consent_id: UUID, case_id: UUID, reason_enc: bytes | None
) -> ConsentRow | None:
    return CONSENT_ROWS.one(
        await session.fetchrow(_REVOKE, id=consent_id, case_id=case_id, reason_enc=reason_enc)
    )


async def get(session: Session, consent_id: UUID, case_id: UUID) -> ConsentRow | None:
    return CONSENT_ROWS.one(await session.fetchrow(_GET, id=consent_id, case_id=case_id))


# `_LIST` for several cases at once: every consent where the caller leads, else those addressed
# to it; at most `limit` rows per case.
_PAGES_FOR_CASES = Query(
    f"""
    SELECT {_COLUMNS} FROM (
        SELECT s.*, row_number() OVER (
                   PARTITION BY s.case_id ORDER BY s.created_at, s.id) AS position
        FROM consents s
        WHERE s.case_id = ANY ($1::uuid[])
          AND (s.case_id = ANY ($2::uuid[]) OR s.recipient_org_id = $3
               OR $4::text = ANY (s.recipient_kinds))
          AND ($5::timestamptz IS NULL OR (s.created_at, s.id) > ($5::timestamptz, $6::uuid))
    ) ranked
    WHERE position <= $7
    ORDER BY case_id, created_at, id
    """,  # noqa: S608 - constant text
    ("case_ids", "lead_case_ids", "org_id", "org_kind", "after_ts", "after_id", "limit"),
)


async def pages_for_cases(session: Session, **params: Any) -> list[ConsentRow]:
    return CONSENT_ROWS.many(await session.fetch(_PAGES_FOR_CASES, params))
