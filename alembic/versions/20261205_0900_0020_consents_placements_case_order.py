"""a case's consents and placements in page order

A case's consents are listed by (created_at, id) and its placements by (started_at, id), also
under a page of cases in GraphQL, where each case's first page is read through a lateral join.
With an index on `case_id` alone, every row of the case was read and sorted before the limit;
these indexes let each case's read stop at the page size, as goals, timelines and referrals do.
They replace the indexes on `case_id` alone, which they contain.

The indexes are built `CONCURRENTLY` (reads and writes go on meanwhile), outside a transaction.
Such a build waits for every transaction older than it to end: run it while no long one (a
`pg_dump`, a report left open) is running, from one process. An interrupted build leaves an
invalid index behind; it is dropped first, so running the migration again finishes the job.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, the new index, its columns, the index on case_id alone it replaces)
INDEXES = (
    ("consents", "ix_consents_case_id_created_at_id", "case_id, created_at, id",
     "ix_consents_case_id"),
    ("placements", "ix_placements_case_id_started_at_id", "case_id, started_at, id",
     "ix_placements_case_id"),
)  # fmt: skip


def upgrade() -> None:
    with op.get_context().autocommit_block():
        for table, name, columns, old in INDEXES:
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            op.execute(f"CREATE INDEX CONCURRENTLY {name} ON {table} ({columns})")
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {old}")


def downgrade() -> None:
    with op.get_context().autocommit_block():
        for table, name, _, old in INDEXES:
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {old}")
            op.execute(f"CREATE INDEX CONCURRENTLY {old} ON {table} (case_id)")
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
