"""OAuth clients and revoked tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import sqlalchemy as sa

from app.db.database import Session
from app.db.query import Query
from app.db.rows import Rows
from app.db.tables import TEXT_ARRAY, oauth_clients, revoked_tokens


@dataclass(frozen=True, slots=True)
class ClientRow:
    client_id: str
    org_id: UUID
    name: str
    secret_hash: str
    scopes: list[str]
    disabled_at: datetime | None


@dataclass(frozen=True, slots=True)
class TokenStatusRow:
    """What the per-request token check needs to know about the token's client."""

    client_active: bool
    org_id: UUID
    revoked: bool


CLIENT_ROWS = Rows(ClientRow)
TOKEN_STATUS_ROWS = Rows(TokenStatusRow)

_c = oauth_clients.c

_INSERT = Query(
    sa.insert(oauth_clients).values(
        client_id=sa.bindparam("client_id"),
        org_id=sa.bindparam("org_id", type_=sa.Uuid),
        name=sa.bindparam("name"),
        secret_hash=sa.bindparam("secret_hash"),
        scopes=sa.bindparam("scopes", type_=TEXT_ARRAY),
    )
)

_GET = Query(
    sa.select(_c.client_id, _c.org_id, _c.name, _c.secret_hash, _c.scopes, _c.disabled_at).where(
        _c.client_id == sa.bindparam("client_id")
    )
)

# The per-request token check: one round trip answers "is the client still enabled?", "which
# organisation does it belong to?" and "was this token revoked?".
_TOKEN_STATUS = Query(
    sa.select(
        (_c.disabled_at.is_(None)).label("client_active"),
        _c.org_id,
        sa.exists()
        .where(revoked_tokens.c.jti == sa.bindparam("jti", type_=sa.Uuid))
        .label("revoked"),
    ).where(_c.client_id == sa.bindparam("client_id"))
)

_REVOKE = Query(
    """
    INSERT INTO revoked_tokens (jti, client_id, expires_at) VALUES ($1, $2, $3)
    ON CONFLICT (jti) DO NOTHING
    """,
    ("jti", "client_id", "expires_at"),
)

_DISABLE = Query(
    "UPDATE oauth_clients SET disabled_at = COALESCE(disabled_at, now()) WHERE client_id = $1 "
    "RETURNING disabled_at",
    ("client_id",),
)

_PRUNE_REVOKED = Query("DELETE FROM revoked_tokens WHERE expires_at < now() - interval '1 hour'")


async def insert(
    session: Session,
    *,
    client_id: str,
    org_id: UUID,
    name: str,
    secret_hash: str,
    scopes: list[str],
) -> None:
    await session.execute(
        _INSERT,
        client_id=client_id,
        org_id=org_id,
        name=name,
        secret_hash=secret_hash,
        scopes=scopes,
    )


async def get(session: Session, client_id: str) -> ClientRow | None:
    return CLIENT_ROWS.one(await session.fetchrow(_GET, client_id=client_id))


async def token_status(session: Session, client_id: str, jti: UUID) -> TokenStatusRow | None:
    return TOKEN_STATUS_ROWS.one(
        await session.fetchrow(_TOKEN_STATUS, client_id=client_id, jti=jti)
    )


async def revoke(session: Session, *, jti: UUID, client_id: str, expires_at: datetime) -> None:
    await session.execute(_REVOKE, jti=jti, client_id=client_id, expires_at=expires_at)


async def disable(session: Session, client_id: str) -> datetime | None:
    disabled_at: datetime | None = await session.fetchval(_DISABLE, client_id=client_id)
    return disabled_at


async def prune_revoked(session: Session) -> int:
    return _count(await session.execute(_PRUNE_REVOKED))


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])
