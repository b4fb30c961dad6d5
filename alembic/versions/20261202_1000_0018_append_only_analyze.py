"""append-only logs: analyzed after a fixed number of rows

`audit_log`, `events`, `case_updates`, `webhook_attempts` and `idempotency_keys` only grow (rows
leave by retention, in batches). With PostgreSQL's defaults autovacuum analyzes a table once 10 %
of it changed: on a young, busy database that is every minute for each of them. Each analysis
costs CPU at once (the audit log's: 0.2 s of a core, for its arrays) and makes every connection
plan its statements on the table again; the soak measured it as a burst of slow requests every
minute. Their reads walk indexes and do not need statistics gathered that often: these tables
are now analyzed once `ANALYZE_ROWS` rows plus the usual 10 % changed. Vacuum keeps PostgreSQL's
defaults (on the audit log it also merges the GIN index's pending list in the background).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("audit_log", "events", "case_updates", "webhook_attempts", "idempotency_keys")
ANALYZE_ROWS = 100_000


def upgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} SET (autovacuum_analyze_threshold = {ANALYZE_ROWS})")


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} RESET (autovacuum_analyze_threshold)")
