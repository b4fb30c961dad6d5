"""Stored responses of creating POSTs, keyed per client by ``Idempotency-Key``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from app.db.database import Session
from app.db.query import Query
from app.db.rows import Rows


@dataclass(frozen=True, slots=True)
class StoredResponseRow:
    """A stored response as kept (the body sealed; ``None`` once erased with the case's
    identity); ``live`` is false once it has expired."""

    request_hash: bytes
    response_status: int
    response_headers: dict[str, str]
    response_body: bytes | None
    case_id: UUID | None
    live: bool


STORED_RESPONSE_ROWS = Rows(StoredResponseRow)

# A transaction-level advisory lock on (client, key): whoever holds it is "in flight"; it is
# released when that request's transaction ends, at which point its stored response is visible.
_TRY_LOCK = Query(
    "SELECT pg_try_advisory_xact_lock(hashtextextended($1::text || chr(31) || $2::text, 7001))",
    ("client_id", "key"),
)
_GET = Query(
    """
    SELECT request_hash, response_status, response_headers, response_body, case_id,
           expires_at > now() AS live
    FROM idempotency_keys WHERE client_id = $1 AND key = $2
    """,
    ("client_id", "key"),
)
_STORE = Query(
    """
    INSERT INTO idempotency_keys (client_id, key, method, path, request_hash, response_status,
                                  response_headers, response_body, case_id, expires_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $10, now() + make_interval(hours => $9))
    ON CONFLICT (client_id, key) DO UPDATE SET
        method = excluded.method, path = excluded.path, request_hash = excluded.request_hash,
        response_status = excluded.response_status, response_headers = excluded.response_headers,
        response_body = excluded.response_body, case_id = excluded.case_id, created_at = now(),
        expires_at = excluded.expires_at
    """,
    (
        "client_id",
        "key",
        "method",
        "path",
        "request_hash",
        "status",
        "headers",
        "body",
        "ttl_hours",
        "case_id",
    ),
)
_PRUNE = Query("DELETE FROM idempotency_keys WHERE expires_at < now()")
_ERASE_CASE = Query(
    "UPDATE idempotency_keys SET response_body = NULL WHERE case_id = $1", ("case_id",)
)


async def try_lock(session: Session, client_id: str, key: str) -> bool:
    return bool(await session.fetchval(_TRY_LOCK, client_id=client_id, key=key))


async def get(session: Session, client_id: str, key: str) -> StoredResponseRow | None:
    return STORED_RESPONSE_ROWS.one(await session.fetchrow(_GET, client_id=client_id, key=key))


async def store(session: Session, **values: Any) -> None:
    await session.execute(_STORE, values)


async def erase_case(session: Session, case_id: Any) -> None:
    """Erasure: the stored responses of creates in the case go with its identity; their keys
    stay, so that a retry is refused instead of creating the resource again."""
    await session.execute(_ERASE_CASE, case_id=case_id)


async def prune(session: Session) -> int:
    status = await session.execute(_PRUNE)
    return int(status.rsplit(" ", 1)[-1])
