"""Consent records."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any
from uuid import UUID

from app.db.database import Session
from app.db.query import Placeholders, Query
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


# A case's consents, oldest first. Lead: every consent of the case. Anyone else: only those
# addressed to it (by id or by kind). One statement per shape (addressed or all, a cursor or
# not), compiled once per process: a catch-all (`$n IS NULL OR …`) has one generic plan for
# every shape, in which the cursor cannot bound the index scan.
@cache
def list_query(addressed: bool, after: bool) -> Query:
    """Parameters: ``case_id``, [``only_for_org``, ``only_for_kind``], [``after_ts``,
    ``after_id``], ``limit``."""
    params = Placeholders("case_id")
    where = "s.case_id = $1"
    if addressed:
        org, kind = params.bind("only_for_org", "uuid"), params.bind("only_for_kind", "text")
        where += f" AND (s.recipient_org_id = {org} OR {kind} = ANY (s.recipient_kinds))"
    if after:
        where += f" AND (s.created_at, s.id) > {params.cursor('after')}"
    return params.query(
        f"SELECT {_COLUMNS} FROM consents s WHERE {where}"  # noqa: S608 - constant fragments
        f" ORDER BY s.created_at, s.id LIMIT {params.bind('limit')}"
    )


@cache
def list_audited_query(addressed: bool, after: bool) -> Query:
    """:func:`list_query` with the page's audit row appended in the same statement, when the
    page has a row."""
    return audit_repo.appending(list_query(addressed, after), when=Query("TRUE"))


def _list_shape(params: Mapping[str, Any]) -> tuple[bool, bool]:
    return params.get("only_for_org") is not None, params.get("after_ts") is not None


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
    return CONSENT_ROWS.many(await session.fetch(list_query(*_list_shape(params)), params))


async def list_page_audited(
    session: Session, *, audit: Mapping[str, Any], **params: Any
) -> list[ListedConsentRow]:
    """:func:`list_page` with the read's audit row ``audit`` (as ``audit.append`` takes it)
    appended in the same statement when the page has a consent: one round trip."""
    return LISTED_CONSENT_ROWS.many(
        await session.fetch(
            list_audited_query(*_list_shape(params)),
            audit_repo.appended_params(session, audit),
            **params,
        )
    )


async def revoke(
    session: Session, consent_id: UUID, case_id: UUID, reason_enc: bytes | None
) -> ConsentRow | None:
    return CONSENT_ROWS.one(
        await session.fetchrow(_REVOKE, id=consent_id, case_id=case_id, reason_enc=reason_enc)
    )


async def get(session: Session, consent_id: UUID, case_id: UUID) -> ConsentRow | None:
    return CONSENT_ROWS.one(await session.fetchrow(_GET, id=consent_id, case_id=case_id))


# `list_query` for several cases at once: every consent where the caller leads, else those
# addressed to it; at most `limit` rows per case, each case's read on its own (a lateral join
# through its case's index; a window function numbered every consent of every case of the page).
@cache
def pages_query(after: bool) -> Query:
    """Parameters: ``case_ids``, ``lead_case_ids``, ``org_id``, ``org_kind``, [``after_ts``,
    ``after_id``], ``limit``."""
    params = Placeholders("case_ids", "lead_case_ids", "org_id", "org_kind")
    cursor = f" AND (s.created_at, s.id) > {params.cursor('after')}" if after else ""
    return params.query(
        "SELECT s.* FROM (SELECT DISTINCT unnest($1::uuid[]) AS case_id) AS wanted"  # noqa: S608
        f" CROSS JOIN LATERAL (SELECT {_COLUMNS} FROM consents s"
        " WHERE s.case_id = wanted.case_id"
        " AND (s.case_id = ANY ($2::uuid[]) OR s.recipient_org_id = $3"
        " OR $4::text = ANY (s.recipient_kinds))"
        f"{cursor} ORDER BY s.created_at, s.id LIMIT {params.bind('limit')}) s"
        " ORDER BY s.case_id, s.created_at, s.id"
    )


async def pages_for_cases(session: Session, **params: Any) -> list[ConsentRow]:
    query = pages_query(params.get("after_ts") is not None)
    return CONSENT_ROWS.many(await session.fetch(query, params))
