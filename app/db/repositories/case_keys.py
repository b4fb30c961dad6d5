"""Wrapped data keys and KEK-sealed blobs, as ``aftercare kek rotate`` walks them."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from app.db.database import Session
from app.db.query import Query
from app.db.rows import Rows


@dataclass(frozen=True, slots=True)
class CaseKeyRow:
    case_id: UUID
    wrapped_key: bytes
    kek_id: str


@dataclass(frozen=True, slots=True)
class KeyCountsRow:
    total: int
    current: int


@dataclass(frozen=True, slots=True)
class SealedRow:
    """A KEK-sealed idempotent response body."""

    client_id: str
    key: str
    response_body: bytes


CASE_KEY_ROWS = Rows(CaseKeyRow)
KEY_COUNTS_ROWS = Rows(KeyCountsRow)
SEALED_ROWS = Rows(SealedRow)

# Keys still wrapped under another KEK, in case-id order after `after`; locked until the batch
# commits, so a concurrent erasure (which deletes the row) waits for the re-wrap or vice versa.
_STALE_KEYS = Query(
    """
    SELECT case_id, wrapped_key, kek_id FROM case_keys
    WHERE kek_id <> $1 AND case_id > $2
    ORDER BY case_id LIMIT $3
    FOR UPDATE
    """,
    ("kek_id", "after", "limit"),
)
_REWRAP = Query(
    "UPDATE case_keys SET wrapped_key = $3, kek_id = $4 WHERE case_id = $1 AND kek_id = $2",
    ("case_id", "old_kek_id", "wrapped_key", "kek_id"),
)
_COUNTS = Query(
    "SELECT count(*) AS total, count(*) FILTER (WHERE kek_id = $1) AS current FROM case_keys",
    ("kek_id",),
)
_PAGE = Query(
    """
    SELECT case_id, wrapped_key, kek_id FROM case_keys WHERE case_id > $1
    ORDER BY case_id LIMIT $2
    """,
    ("after", "limit"),
)
_SEALED_PAGE = Query(
    """
    SELECT client_id, key, response_body FROM idempotency_keys
    WHERE (client_id, key) > ($1, $2) AND response_body IS NOT NULL
    ORDER BY client_id, key LIMIT $3
    FOR UPDATE
    """,
    ("after_client", "after_key", "limit"),
)
_RESEAL = Query(
    "UPDATE idempotency_keys SET response_body = $3 WHERE client_id = $1 AND key = $2",
    ("client_id", "key", "response_body"),
)
_SEALED_COUNT = Query("SELECT count(*) FROM idempotency_keys WHERE response_body IS NOT NULL", ())


async def stale_keys(session: Session, kek_id: str, after: UUID, limit: int) -> list[CaseKeyRow]:
    return CASE_KEY_ROWS.many(
        await session.fetch(_STALE_KEYS, kek_id=kek_id, after=after, limit=limit)
    )


async def rewrap(
    session: Session, case_id: UUID, old_kek_id: str, wrapped_key: bytes, kek_id: str
) -> None:
    await session.execute(
        _REWRAP, case_id=case_id, old_kek_id=old_kek_id, wrapped_key=wrapped_key, kek_id=kek_id
    )


async def counts(session: Session, kek_id: str) -> KeyCountsRow:
    row = KEY_COUNTS_ROWS.one(await session.fetchrow(_COUNTS, kek_id=kek_id))
    assert row is not None
    return row


async def page(session: Session, after: UUID, limit: int) -> list[CaseKeyRow]:
    return CASE_KEY_ROWS.many(await session.fetch(_PAGE, after=after, limit=limit))


async def sealed_page(session: Session, after: tuple[str, str], limit: int) -> list[SealedRow]:
    return SEALED_ROWS.many(
        await session.fetch(_SEALED_PAGE, after_client=after[0], after_key=after[1], limit=limit)
    )


async def reseal(session: Session, client_id: str, key: str, body: bytes) -> None:
    await session.execute(_RESEAL, client_id=client_id, key=key, response_body=body)


async def sealed_count(session: Session) -> int:
    return int(await session.fetchval(_SEALED_COUNT))
