"""Database-level facts: the applied migration."""

from __future__ import annotations

import asyncpg

from app.db.database import Session
from app.db.query import Query

_REVISION = Query("SELECT version_num FROM alembic_version")


async def schema_revision(session: Session) -> str | None:
    try:
        value: str | None = await session.fetchval(_REVISION)
    except asyncpg.UndefinedTableError:
        return None
    return value
