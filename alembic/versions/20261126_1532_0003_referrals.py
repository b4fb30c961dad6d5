"""referrals

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 15:32:15.239731
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "referrals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("from_org_id", sa.Uuid(), nullable=False),
        sa.Column("to_org_id", sa.Uuid(), nullable=False),
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("urgency", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("shared_categories", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("respond_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("transfer_lead", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("capacity_held", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("created_by_client_id", sa.Text(), nullable=False),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.CheckConstraint(
            "service IN ('shelter', 'medical', 'counseling', 'legal', 'education', 'job_training', 'family_tracing', 'repatriation', 'community_placement', 'other')",
            name=op.f("ck_referrals_service"),
        ),
        sa.CheckConstraint(
            "shared_categories <@ ARRAY['demographics', 'identity', 'exploitation', 'medical', 'counseling', 'legal', 'education', 'placement', 'general']::text[]",
            name=op.f("ck_referrals_shared_categories"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'accepted', 'declined', 'withdrawn', 'expired', 'in_progress', 'completed', 'failed')",
            name=op.f("ck_referrals_status"),
        ),
        sa.CheckConstraint(
            "urgency IN ('emergency', 'high', 'routine')", name=op.f("ck_referrals_urgency")
        ),
        sa.CheckConstraint("from_org_id <> to_org_id", name=op.f("ck_referrals_not_to_self")),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_referrals_case_id_cases"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["from_org_id"],
            ["organizations.id"],
            name=op.f("fk_referrals_from_org_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["to_org_id"], ["organizations.id"], name=op.f("fk_referrals_to_org_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals")),
    )
    op.create_index("ix_referrals_case_id", "referrals", ["case_id"], unique=False)
    op.create_index(
        "ix_referrals_from_org_id_created_at_id",
        "referrals",
        ["from_org_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_referrals_pending_respond_by",
        "referrals",
        ["respond_by"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_referrals_to_org_id_created_at_id",
        "referrals",
        ["to_org_id", "created_at", "id"],
        unique=False,
    )
    op.drop_index(
        op.f("uq_case_members_active"),
        table_name="case_members",
        postgresql_where="(left_at IS NULL)",
    )
    op.create_index(
        "ix_case_members_case_active",
        "case_members",
        ["case_id", "org_id"],
        unique=False,
        postgresql_where=sa.text("left_at IS NULL"),
    )
    op.create_index(
        "uq_case_members_referral_id",
        "case_members",
        ["referral_id"],
        unique=True,
        postgresql_where=sa.text("referral_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_case_members_referral_id",
        table_name="case_members",
        postgresql_where=sa.text("referral_id IS NOT NULL"),
    )
    op.drop_index(
        "ix_case_members_case_active",
        table_name="case_members",
        postgresql_where=sa.text("left_at IS NULL"),
    )
    op.create_index(
        op.f("uq_case_members_active"),
        "case_members",
        ["case_id", "org_id"],
        unique=True,
        postgresql_where="(left_at IS NULL)",
    )
    op.drop_index("ix_referrals_to_org_id_created_at_id", table_name="referrals")
    op.drop_index(
        "ix_referrals_pending_respond_by",
        table_name="referrals",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_index("ix_referrals_from_org_id_created_at_id", table_name="referrals")
    op.drop_index("ix_referrals_case_id", table_name="referrals")
    op.drop_table("referrals")
