"""legal placements follow-ups

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 15:43:29.398704
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "follow_ups",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("contacted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=True),
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
            "outcome IS NULL OR outcome IN ('stable', 'at_risk', 're_exploited', 'lost_contact', 'declined_contact')",
            name=op.f("ck_follow_ups_outcome"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_follow_ups_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follow_ups")),
    )
    op.create_index(op.f("ix_follow_ups_case_id"), "follow_ups", ["case_id"], unique=False)
    op.create_index(
        "ix_follow_ups_org_open_due",
        "follow_ups",
        ["org_id", "due_on", "id"],
        unique=False,
        postgresql_where=sa.text("recorded_at IS NULL"),
    )
    op.create_table(
        "home_reviews",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("reviewer_org_id", sa.Uuid(), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "result IN ('approved', 'rejected')", name=op.f("ck_home_reviews_result")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_home_reviews_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_home_reviews")),
    )
    op.create_index(op.f("ix_home_reviews_case_id"), "home_reviews", ["case_id"], unique=False)
    op.create_table(
        "legal_records",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column(
            "documents",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "testimony_status", sa.Text(), server_default=sa.text("'not_started'"), nullable=False
        ),
        sa.Column(
            "protective_measures",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column("next_session_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "prosecution_status", sa.Text(), server_default=sa.text("'none'"), nullable=False
        ),
        sa.Column("next_hearing_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("immigration_relief_type", sa.Text(), nullable=True),
        sa.Column("immigration_relief_status", sa.Text(), nullable=True),
        sa.Column("updated_by_org_id", sa.Uuid(), nullable=False),
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
            "prosecution_status IN ('none', 'investigation', 'charged', 'trial', 'concluded')",
            name=op.f("ck_legal_records_prosecution_status"),
        ),
        sa.CheckConstraint(
            "testimony_status IN ('not_started', 'in_preparation', 'ready', 'testified', 'declined', 'deferred')",
            name=op.f("ck_legal_records_testimony_status"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_legal_records_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_legal_records")),
    )
    op.create_index(
        "ix_legal_records_updated_at", "legal_records", ["updated_at", "case_id"], unique=False
    )
    op.create_table(
        "placements",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("placed_by_org_id", sa.Uuid(), nullable=False),
        sa.Column("setting", sa.Text(), nullable=False),
        sa.Column("home_review_id", sa.Uuid(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("exit_reason", sa.Text(), nullable=True),
        sa.Column("authorization_ref", sa.Text(), nullable=True),
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
            "exit_reason IS NULL OR exit_reason IN ('transferred', 'reunified_with_family', 'independent_living', 'repatriated', 'left_against_advice', 'aged_out', 'other')",
            name=op.f("ck_placements_exit_reason"),
        ),
        sa.CheckConstraint(
            "setting IN ('government_shelter', 'ngo_shelter', 'community_family', 'foster_family', 'independent_living', 'other')",
            name=op.f("ck_placements_setting"),
        ),
        sa.CheckConstraint(
            "ended_at IS NULL OR ended_at >= started_at",
            name=op.f("ck_placements_ended_after_start"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_placements_case_id_cases"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["home_review_id"],
            ["home_reviews.id"],
            name=op.f("fk_placements_home_review_id_home_reviews"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_placements_org_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_placements")),
    )
    op.create_index(op.f("ix_placements_case_id"), "placements", ["case_id"], unique=False)
    op.create_index(
        "uq_placements_one_active_per_case",
        "placements",
        ["case_id"],
        unique=True,
        postgresql_where=sa.text("ended_at IS NULL"),
    )
    op.create_table(
        "placement_visits",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("placement_id", sa.Uuid(), nullable=False),
        sa.Column("visitor_org_id", sa.Uuid(), nullable=False),
        sa.Column("visited_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["placement_id"],
            ["placements.id"],
            name=op.f("fk_placement_visits_placement_id_placements"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_placement_visits")),
    )
    op.create_index(
        "ix_placement_visits_placement_id_visited_at",
        "placement_visits",
        ["placement_id", "visited_at"],
        unique=False,
    )
    op.add_column("idempotency_keys", sa.Column("case_id", sa.Uuid(), nullable=True))
    op.create_index(
        op.f("ix_idempotency_keys_case_id"), "idempotency_keys", ["case_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_idempotency_keys_case_id"), table_name="idempotency_keys")
    op.drop_column("idempotency_keys", "case_id")
    op.drop_index("ix_placement_visits_placement_id_visited_at", table_name="placement_visits")
    op.drop_table("placement_visits")
    op.drop_index(
        "uq_placements_one_active_per_case",
        table_name="placements",
        postgresql_where=sa.text("ended_at IS NULL"),
    )
    op.drop_index(op.f("ix_placements_case_id"), table_name="placements")
    op.drop_table("placements")
    op.drop_index("ix_legal_records_updated_at", table_name="legal_records")
    op.drop_table("legal_records")
    op.drop_index(op.f("ix_home_reviews_case_id"), table_name="home_reviews")
    op.drop_table("home_reviews")
    op.drop_index(
        "ix_follow_ups_org_open_due",
        table_name="follow_ups",
        postgresql_where=sa.text("recorded_at IS NULL"),
    )
    op.drop_index(op.f("ix_follow_ups_case_id"), table_name="follow_ups")
    op.drop_table("follow_ups")
