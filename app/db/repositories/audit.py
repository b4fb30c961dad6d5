"""The audit log: hash-chained appends and reads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from app.db.database import Session
from app.db.query import Query
from app.db.rows import Rows

GENESIS = bytes(32)


@dataclass(frozen=True, slots=True)
class AccessLogRow:
    """An audit row naming a case, with the acting organisation's name (`access_log`)."""

    org_id: UUID
    seq: int
    occurred_at: datetime
    client_id: str
    action: str
    categories: list[str]
    request_id: str | None
    org_name: str | None


@dataclass(frozen=True, slots=True)
class HeadRow:
    org_id: UUID
    seq: int
    hash: bytes


@dataclass(frozen=True, slots=True)
class ChainRow:
    """An audit row as the chain hashes it."""

    org_id: UUID
    seq: int
    hash: bytes
    occurred_at: datetime
    client_id: str
    jti: UUID | None
    request_id: str | None
    action: str
    case_ids: list[UUID]
    categories: list[str]


ACCESS_LOG_ROWS = Rows(AccessLogRow)
HEAD_ROWS = Rows(HeadRow)
CHAIN_ROWS = Rows(ChainRow)

# One statement appends a row: upserting the chain head takes its row lock (serialising writers of
# this organisation until commit) and, under READ COMMITTED, sees the latest committed head, so
# the chain cannot fork. hash_n = sha256(hash_{n-1} || int8(seq_n) || entry_n).
_APPEND = Query(
    """
    WITH head AS (
        INSERT INTO audit_heads AS h (org_id, seq, hash)
        VALUES ($1, 1, sha256($2::bytea || int8send(1) || $3::bytea))
        ON CONFLICT (org_id) DO UPDATE
            SET seq = h.seq + 1, hash = sha256(h.hash || int8send(h.seq + 1) || $3::bytea)
        RETURNING seq, hash
    )
    INSERT INTO audit_log (org_id, seq, hash, occurred_at, client_id, jti, request_id, action,
                           case_ids, categories)
    SELECT $1, head.seq, head.hash, $4, $5, $6, $7, $8, $9, $10 FROM head
    """,
    ("org_id", "genesis", "entry", "occurred_at", "client_id", "jti", "request_id", "action",
     "case_ids", "categories"),
)  # fmt: skip

_ACCESS_LOG = Query(
    """
    SELECT a.org_id, a.seq, a.occurred_at, a.client_id, a.action, a.categories, a.request_id,
           o.name AS org_name
    FROM audit_log a LEFT JOIN organizations o ON o.id = a.org_id
    WHERE a.case_ids @> ARRAY[$1::uuid]
      AND ($2::timestamptz IS NULL OR (a.occurred_at, a.org_id, a.seq) < ($2, $3::uuid, $4::bigint))
    ORDER BY a.occurred_at DESC, a.org_id DESC, a.seq DESC
    LIMIT $5
    """,
    ("case_id", "before_at", "before_org", "before_seq", "limit"),
)

_HEADS = Query("SELECT org_id, seq, hash FROM audit_heads ORDER BY org_id")
_CHAIN = """
    SELECT org_id, seq, hash, occurred_at, client_id, jti, request_id, action, case_ids, categories
    FROM audit_log ORDER BY org_id, seq
"""


async def append(session: Session, **values: Any) -> None:
    await session.execute(_APPEND, values, genesis=GENESIS)


async def access_log(
    session: Session,
    case_id: UUID,
    *,
    before_at: datetime | None,
    before_org: UUID | None,
    before_seq: int | None,
    limit: int,
) -> list[AccessLogRow]:
    return ACCESS_LOG_ROWS.many(
        await session.fetch(
            _ACCESS_LOG,
            case_id=case_id,
            before_at=before_at,
            before_org=before_org,
            before_seq=before_seq,
            limit=limit,
        )
    )


async def heads(session: Session) -> list[HeadRow]:
    return HEAD_ROWS.many(await session.fetch(_HEADS))


async def iterate_chain(session: Session) -> AsyncIterator[ChainRow]:
    """Every audit row, by organisation and sequence, streamed (needs a transaction)."""
    await session.begin()
    conn = await session.connection()
    async for record in conn.cursor(_CHAIN, prefetch=1000):
        row = CHAIN_ROWS.one(record)
        assert row is not None
        yield row


_HASHES_AT = Query(
    """
    SELECT a.org_id, a.seq, a.hash FROM audit_log a
    JOIN unnest($1::uuid[], $2::bigint[]) AS w(org_id, seq)
      ON a.org_id = w.org_id AND a.seq = w.seq
    """,
    ("org_ids", "seqs"),
)


async def hashes_at(
    session: Session, positions: list[tuple[UUID, int]]
) -> dict[tuple[UUID, int], bytes]:
    """The hash of each audit row at (organisation, seq) that still exists."""
    rows = await session.fetch(
        _HASHES_AT, org_ids=[p[0] for p in positions], seqs=[p[1] for p in positions]
    )
    return {(r["org_id"], r["seq"]): bytes(r["hash"]) for r in rows}
