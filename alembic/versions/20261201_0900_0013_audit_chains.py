"""audit chains: several hash chains per organisation

``audit_heads`` and ``audit_log`` get a ``chain`` column (smallint, 0 to 255): an organisation's
audit rows form one hash chain per chain number, each with its own head, so appends from
different database connections of one organisation stop queueing on one head row. The primary
keys become ``(org_id, chain)`` and ``(org_id, chain, seq)``. Existing rows are chain 0, whose
hashes start from the same genesis as before: they verify unchanged. New rows go to chain
``pg_backend_pid() % AFTERCARE_AUDIT_CHAINS`` (see docs/architecture.md, "The audit log").

Adding a column with a constant default is a catalogue change; re-creating the primary keys
rebuilds their indexes under an exclusive lock of both tables (the app waits meanwhile).

The downgrade refuses while any row lies outside chain 0 (it cannot merge chains without
rewriting their hashes).

Revision ID: 0013
Revises: 0010
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0013"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _chain() -> sa.Column[int]:
    return sa.Column("chain", sa.SmallInteger(), server_default=sa.text("0"), nullable=False)


def upgrade() -> None:
    op.add_column("audit_heads", _chain())
    op.add_column("audit_log", _chain())
    op.drop_constraint("pk_audit_heads", "audit_heads", type_="primary")
    op.create_primary_key("pk_audit_heads", "audit_heads", ["org_id", "chain"])
    op.drop_constraint("pk_audit_log", "audit_log", type_="primary")
    op.create_primary_key("pk_audit_log", "audit_log", ["org_id", "chain", "seq"])


def downgrade() -> None:
    op.execute(
        """
        DO $$
        BEGIN
            IF EXISTS (SELECT 1 FROM audit_heads WHERE chain <> 0) THEN
                RAISE EXCEPTION 'audit rows outside chain 0: cannot downgrade below 0013';
            END IF;
        END $$
        """
    )
    op.drop_constraint("pk_audit_log", "audit_log", type_="primary")
    op.create_primary_key("pk_audit_log", "audit_log", ["org_id", "seq"])
    op.drop_constraint("pk_audit_heads", "audit_heads", type_="primary")
    op.create_primary_key("pk_audit_heads", "audit_heads", ["org_id"])
    op.drop_column("audit_log", "chain")
    op.drop_column("audit_heads", "chain")
