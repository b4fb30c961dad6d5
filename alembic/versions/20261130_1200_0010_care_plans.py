"""care plans: goals, their progress, service records

Goals per category of a case (owned by the lead or a care-team member) with their status history,
and structured service records (appointments, sessions, enrolments, assessments, supplies). Free
text (title, description, progress note, service notes) is stored only sealed with the case's
data key.

Revision ID: 0010
Revises: 0008
Create Date: 2026-11-30 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0010"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CATEGORIES = "category IN ('medical', 'counseling', 'legal', 'education', 'placement', 'general')"
_GOAL_STATUSES = "status IN ('active', 'on_hold', 'achieved', 'not_achieved', 'cancelled')"


def _timestamps() -> list[sa.Column[object]]:
    return [
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
    ]


def upgrade() -> None:
    op.create_table(
        "goals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("owner_org_id", sa.Uuid(), nullable=False),
        sa.Column("created_by_org_id", sa.Uuid(), nullable=False),
        sa.Column("title_enc", sa.LargeBinary(), nullable=False),
        sa.Column("description_enc", sa.LargeBinary(), nullable=True),
        sa.Column("target_date", sa.Date(), nullable=True),
        sa.Column("status", sa.Text(), server_default=sa.text("'active'"), nullable=False),
        *_timestamps(),
        sa.CheckConstraint(_GOAL_STATUSES, name=op.f("ck_goals_status")),
        sa.CheckConstraint(_CATEGORIES, name=op.f("ck_goals_category")),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_goals_case_id_cases"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["owner_org_id"],
            ["organizations.id"],
            name=op.f("fk_goals_owner_org_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_goals")),
    )
    op.create_index(
        "ix_goals_case_id_created_at_id", "goals", ["case_id", "created_at", "id"], unique=False
    )
    op.create_index(
        "ix_goals_case_id_owner_org_id", "goals", ["case_id", "owner_org_id"], unique=False
    )
    op.create_table(
        "goal_progress",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("goal_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("note_enc", sa.LargeBinary(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by_org_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(_GOAL_STATUSES, name=op.f("ck_goal_progress_status")),
        sa.ForeignKeyConstraint(
            ["goal_id"],
            ["goals.id"],
            name=op.f("fk_goal_progress_goal_id_goals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_goal_progress")),
    )
    op.create_index(
        "ix_goal_progress_goal_id_created_at_id",
        "goal_progress",
        ["goal_id", "created_at", "id"],
        unique=False,
    )
    op.create_table(
        "service_records",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("provider_org_id", sa.Uuid(), nullable=False),
        sa.Column("goal_id", sa.Uuid(), nullable=True),
        sa.Column("notes_enc", sa.LargeBinary(), nullable=True),
        sa.Column(
            "codes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("recorded_by_org_id", sa.Uuid(), nullable=False),
        *_timestamps(),
        sa.CheckConstraint(_CATEGORIES, name=op.f("ck_service_records_category")),
        sa.CheckConstraint(
            "type IN ('appointment', 'session', 'enrolment', 'assessment', 'supply')",
            name=op.f("ck_service_records_type"),
        ),
        sa.CheckConstraint(
            "status IN ('scheduled', 'attended', 'missed', 'cancelled', 'completed')",
            name=op.f("ck_service_records_status"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_service_records_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["goal_id"],
            ["goals.id"],
            name=op.f("fk_service_records_goal_id_goals"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["provider_org_id"],
            ["organizations.id"],
            name=op.f("fk_service_records_provider_org_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_records")),
    )
    op.create_index(
        "ix_service_records_case_id_created_at_id",
        "service_records",
        ["case_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_service_records_case_scheduled",
        "service_records",
        ["case_id", "scheduled_at", "id"],
        unique=False,
        postgresql_where=sa.text("status = 'scheduled'"),
    )
    op.create_index(
        "ix_service_records_provider_scheduled",
        "service_records",
        ["provider_org_id", "scheduled_at", "id"],
        unique=False,
        postgresql_where=sa.text("status = 'scheduled'"),
    )
    op.create_index("ix_service_records_goal_id", "service_records", ["goal_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_service_records_goal_id", table_name="service_records")
    op.drop_index(
        "ix_service_records_provider_scheduled",
        table_name="service_records",
        postgresql_where=sa.text("status = 'scheduled'"),
    )
    op.drop_index(
        "ix_service_records_case_scheduled",
        table_name="service_records",
        postgresql_where=sa.text("status = 'scheduled'"),
    )
    op.drop_index("ix_service_records_case_id_created_at_id", table_name="service_records")
    op.drop_table("service_records")
    op.drop_index("ix_goal_progress_goal_id_created_at_id", table_name="goal_progress")
    op.drop_table("goal_progress")
    op.drop_index("ix_goals_case_id_owner_org_id", table_name="goals")
    op.drop_index("ix_goals_case_id_created_at_id", table_name="goals")
    op.drop_table("goals")
