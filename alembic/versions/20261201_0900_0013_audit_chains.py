"""audit chains: several hash chains per organisation

``audit_heads`` and ``audit_log`` get a ``chain`` column (smallint, 0 to 255): an organisation's
audit rows form one hash chain per chain number, each with its own head, so appends from
different database connections of one organisation stop queueing on one head row. The primary
keys become ``(org_id, chain)`` and ``(org_id, chain, seq)``. Existing rows are chain 0, whose
hashes start from the same genesis as before: they verify unchanged. New rows go to chain
``pg_backend_pid() % AFTERCARE_AUDIT_CHAINS`` (see docs/architecture.md, "The audit log").

Adding a column with a constant default is a catalogue change; re-creating the primary keys
rebuilds their indexes under an exclusive lock of both tables (the app waits meanwhile).

The downgrade folds each organisation's chains back into one (chain 0): its rows ordered by
``(occurred_at, chain, seq)``, renumbered and re-hashed, so they verify under the old code; an
anchor made after this revision no longer matches those rows.

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
    op.drop_constraint("pk_audit_log", "audit_log", type_="primary")
    _merge_chains()
    op.create_primary_key("pk_audit_log", "audit_log", ["org_id", "seq"])
    op.drop_constraint("pk_audit_heads", "audit_heads", type_="primary")
    op.create_primary_key("pk_audit_heads", "audit_heads", ["org_id"])
    op.drop_column("audit_log", "chain")
    op.drop_column("audit_heads", "chain")


def _merge_chains() -> None:
    """Fold each organisation that has rows outside chain 0 into one chain 0, its rows ordered
    by (occurred_at, chain, seq), renumbered from 1 and re-hashed from the old genesis."""
    from app.db.repositories.audit import GENESIS
    from app.domain.audit import canonical_entry, chain_hash

    bind = op.get_bind()
    orgs = bind.execute(
        sa.text("SELECT DISTINCT org_id FROM audit_heads WHERE chain <> 0 ORDER BY org_id")
    ).scalars()
    for org_id in list(orgs):
        rows = bind.execute(
            sa.text(
                """
                SELECT chain, seq, occurred_at, client_id, jti, request_id, action, case_ids,
                       categories
                FROM audit_log WHERE org_id = :org_id ORDER BY occurred_at, chain, seq
                """
            ),
            {"org_id": org_id},
        ).mappings()
        previous, updates = GENESIS, []
        for number, row in enumerate(rows, start=1):
            entry = canonical_entry(
                org_id=org_id,
                occurred_at=row["occurred_at"],
                client_id=row["client_id"],
                jti=row["jti"],
                request_id=row["request_id"],
                action=row["action"],
                case_ids=row["case_ids"],
                categories=row["categories"],
            )
            previous = chain_hash(previous, number, entry)
            updates.append(
                {
                    "org_id": org_id,
                    "chain": row["chain"],
                    "seq": row["seq"],
                    "new_seq": number,
                    "hash": previous,
                }
            )
        if updates:
            # The old rows' (chain, seq) are unique, and no key is checked until the end.
            bind.execute(
                sa.text(
                    """
                    UPDATE audit_log SET chain = 0, seq = :new_seq, hash = :hash
                    WHERE org_id = :org_id AND chain = :chain AND seq = :seq
                    """
                ),
                updates,
            )
        bind.execute(sa.text("DELETE FROM audit_heads WHERE org_id = :org_id"), {"org_id": org_id})
        if updates:
            bind.execute(
                sa.text(
                    "INSERT INTO audit_heads (org_id, chain, seq, hash) "
                    "VALUES (:org_id, 0, :seq, :hash)"
                ),
                {"org_id": org_id, "seq": len(updates), "hash": previous},
            )
