"""a case's referrals in page order

GraphQL's `referrals` under a page of cases takes the first page of each case's referrals. It
ranked every referral of those cases to keep the first few, a cost that grows with each case's
history rather than with the page; it now walks each case's referrals in page order and stops at
the page size, with this index. It replaces the index on `case_id` alone, which it contains.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 11:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_referrals_case_id_created_at_id",
        "referrals",
        ["case_id", "created_at", "id"],
        unique=False,
    )
    op.drop_index("ix_referrals_case_id", table_name="referrals")


def downgrade() -> None:
    op.create_index("ix_referrals_case_id", "referrals", ["case_id"], unique=False)
    op.drop_index("ix_referrals_case_id_created_at_id", table_name="referrals")
