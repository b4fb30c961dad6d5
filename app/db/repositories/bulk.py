"""Bulk loading for the demo data set (``aftercare demo seed``; development only).

Rows are streamed with PostgreSQL's binary ``COPY`` (asyncpg ``copy_records_to_table``): no
statement per row. Table and column names are checked against the schema (``app.db.tables``), so
only known identifiers reach the ``COPY`` command; every value travels as data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from app.db import tables
from app.db.database import Session
from app.db.query import Query

# The tables the demo seed fills, in an order that satisfies their foreign keys.
SEEDED_TABLES = (
    "cases",
    "case_keys",
    "consents",
    "referrals",
    "case_members",
    "legal_records",
    "events",
)

_COUNT_CASES = Query("SELECT count(*) FROM cases")


def _checked(table: str, columns: Sequence[str]) -> None:
    if table not in SEEDED_TABLES:
        raise ValueError(f"not a seeded table: {table}")
    known = tables.metadata.tables[table].c
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise ValueError(f"{table} has no columns {unknown}")


async def copy(
    session: Session, table: str, columns: Sequence[str], records: Iterable[Sequence[Any]]
) -> int:
    """Stream ``records`` (tuples in ``columns`` order) into ``table`` with binary COPY, in the
    session's transaction; returns the number of rows copied."""
    _checked(table, columns)
    rows = list(records)
    if not rows:
        return 0
    conn = await session.connection()
    # Binary COPY: jsonb goes in the pool's binary codec (app.db.database).
    await conn.copy_records_to_table(table, records=rows, columns=list(columns))
    return len(rows)


async def count_cases(session: Session) -> int:
    return int(await session.fetchval(_COUNT_CASES))


async def analyze(session: Session) -> None:
    """``VACUUM (ANALYZE)`` of the seeded tables once the load is committed (outside a
    transaction), as autovacuum would soon after such a load: planner statistics, and the
    visibility map that lets index-only scans skip the table."""
    for table in SEEDED_TABLES:
        await session.execute(Query(f"VACUUM (ANALYZE) {table}"))  # constant names
