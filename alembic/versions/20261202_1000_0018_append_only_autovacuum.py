"""append-only logs: autovacuum by a fixed number of rows; the audit log's GIN index without a
pending list

`audit_log`, `events`, `case_updates`, `webhook_attempts` and `idempotency_keys` only grow (rows
leave by retention, in batches). With PostgreSQL's defaults, autovacuum analyzes a table once 10 %
of it changed and vacuums an insert-only one once 20 % was added: on a young, busy database that
is every minute for each of them. Each run costs CPU at once (the audit log's analysis: 0.2 s)
and makes every connection plan its statements on the table again; the soak measured it as a
burst of slow requests every minute. Their reads walk indexes and do not need statistics
gathered that often: these tables are now analyzed and vacuumed after a fixed number of rows
(`ANALYZE_ROWS`, `VACUUM_INSERT_ROWS`) plus the usual share of the table. Vacuums for deleted or
updated rows (the retention's batches, an erased body) keep PostgreSQL's defaults.

`ix_audit_log_case_ids` (GIN) is written with `fastupdate = false`: with the pending list, the
insert that finds it full (4 MB) merges it into the index in the foreground, a delay of its own
for whichever audited request that is; without it each insert updates the index directly.

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
VACUUM_INSERT_ROWS = 100_000


def upgrade() -> None:
    for table in TABLES:
        op.execute(
            f"ALTER TABLE {table} SET (autovacuum_analyze_threshold = {ANALYZE_ROWS}, "
            f"autovacuum_vacuum_insert_threshold = {VACUUM_INSERT_ROWS})"
        )
    op.execute("ALTER INDEX ix_audit_log_case_ids SET (fastupdate = false)")
    # Entries already in the pending list stay there until merged: merge them now.
    op.execute("SELECT gin_clean_pending_list('ix_audit_log_case_ids'::regclass)")


def downgrade() -> None:
    op.execute("ALTER INDEX ix_audit_log_case_ids RESET (fastupdate)")
    for table in TABLES:
        op.execute(
            f"ALTER TABLE {table} RESET (autovacuum_analyze_threshold, "
            "autovacuum_vacuum_insert_threshold)"
        )
