"""first pages: indexes in page order across all cases, legal memberships

The case list (lead and care team together) is ordered by `(updated_at, id)` and the testimony
pull's cases without a legal record by `(created_at, id)`: with these indexes each first page
walks the cases in order and stops at the page size, instead of sorting every case the partner
may see (a cost that grew with the data set). Both include `lead_org_id`, so the walk past other
partners' cases reads only the index. A partial index of the active memberships that share
`legal` is what the testimony pull tests each walked case against.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_cases_updated_at_id",
        "cases",
        ["updated_at", "id"],
        unique=False,
        postgresql_include=["lead_org_id"],
    )
    op.create_index(
        "ix_cases_created_at_id",
        "cases",
        ["created_at", "id"],
        unique=False,
        postgresql_include=["lead_org_id"],
    )
    op.create_index(
        "ix_case_members_legal_active",
        "case_members",
        ["case_id", "org_id"],
        unique=False,
        postgresql_where=sa.text("left_at IS NULL AND 'legal' = ANY (categories)"),
    )


def downgrade() -> None:
    op.drop_index("ix_case_members_legal_active", table_name="case_members")
    op.drop_index("ix_cases_created_at_id", table_name="cases")
    op.drop_index("ix_cases_updated_at_id", table_name="cases")
