"""cases consents updates audit

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 15:15:43.804799
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_heads",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_audit_heads")),
    )
    op.create_table(
        "audit_log",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("jti", sa.Uuid(), nullable=True),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("case_ids", postgresql.ARRAY(sa.Uuid()), nullable=False),
        sa.Column("categories", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "seq", name=op.f("pk_audit_log")),
    )
    op.create_index(
        "ix_audit_log_case_ids", "audit_log", ["case_ids"], unique=False, postgresql_using="gin"
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("lead_org_id", sa.Uuid(), nullable=False),
        sa.Column("external_ref", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'open'"), nullable=False),
        sa.Column("close_reason", sa.Text(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("gender", sa.Text(), nullable=False),
        sa.Column("nationality", sa.CHAR(length=2), nullable=True),
        sa.Column(
            "languages", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False
        ),
        sa.Column("is_minor", sa.Boolean(), nullable=False),
        sa.Column("age_band", sa.Text(), nullable=False),
        sa.Column("given_name_enc", sa.LargeBinary(), nullable=True),
        sa.Column("family_name_enc", sa.LargeBinary(), nullable=True),
        sa.Column("aliases_enc", sa.LargeBinary(), nullable=True),
        sa.Column("date_of_birth_enc", sa.LargeBinary(), nullable=True),
        sa.Column("birth_year_enc", sa.LargeBinary(), nullable=True),
        sa.Column("contact_enc", sa.LargeBinary(), nullable=True),
        sa.Column("guardian_enc", sa.LargeBinary(), nullable=True),
        sa.Column("identity_erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "exploitation_types",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column("identified_on", sa.Date(), nullable=True),
        sa.Column("identified_country", sa.CHAR(length=2), nullable=True),
        sa.Column(
            "needs", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False
        ),
        sa.Column("risk_level", sa.Text(), nullable=True),
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
            "gender IN ('female', 'male', 'non_binary', 'other', 'undisclosed')",
            name=op.f("ck_cases_gender"),
        ),
        sa.CheckConstraint(
            "needs <@ ARRAY['shelter', 'medical', 'counseling', 'legal', 'education', 'job_training', 'family_tracing', 'repatriation', 'community_placement', 'other']::text[]",
            name=op.f("ck_cases_needs"),
        ),
        sa.CheckConstraint(
            "risk_level IS NULL OR risk_level IN ('low', 'medium', 'high', 'critical')",
            name=op.f("ck_cases_risk_level"),
        ),
        sa.CheckConstraint("status IN ('open', 'closed')", name=op.f("ck_cases_status")),
        sa.ForeignKeyConstraint(
            ["lead_org_id"], ["organizations.id"], name=op.f("fk_cases_lead_org_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint(
            "lead_org_id", "external_ref", name=op.f("uq_cases_lead_org_id_external_ref")
        ),
        sa.UniqueConstraint("reference", name=op.f("uq_cases_reference")),
    )
    op.create_index(
        "ix_cases_lead_org_id_updated_at_id",
        "cases",
        ["lead_org_id", "updated_at", "id"],
        unique=False,
    )
    op.create_table(
        "case_keys",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("kek_id", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_keys_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_case_keys")),
    )
    op.create_table(
        "case_members",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("categories", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("referral_id", sa.Uuid(), nullable=True),
        sa.Column(
            "joined_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "categories <@ ARRAY['demographics', 'identity', 'exploitation', 'medical', 'counseling', 'legal', 'education', 'placement', 'general']::text[]",
            name=op.f("ck_case_members_categories"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_members_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_case_members_org_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_members")),
    )
    op.create_index(
        "ix_case_members_org_active",
        "case_members",
        ["org_id", "case_id"],
        unique=False,
        postgresql_where=sa.text("left_at IS NULL"),
    )
    op.create_index(
        "uq_case_members_active",
        "case_members",
        ["case_id", "org_id"],
        unique=True,
        postgresql_where=sa.text("left_at IS NULL"),
    )
    op.create_table(
        "case_updates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("author_org_id", sa.Uuid(), nullable=False),
        sa.Column("author_client_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("supersedes", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "category IN ('demographics', 'identity', 'exploitation', 'medical', 'counseling', 'legal', 'education', 'placement', 'general')",
            name=op.f("ck_case_updates_category"),
        ),
        sa.CheckConstraint(
            "kind IN ('note', 'service_delivered', 'assessment', 'incident', 'status_change', 'follow_up')",
            name=op.f("ck_case_updates_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_updates_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["supersedes"],
            ["case_updates.id"],
            name=op.f("fk_case_updates_supersedes_case_updates"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_updates")),
    )
    op.create_index(
        "ix_case_updates_case_id_created_at_id",
        "case_updates",
        ["case_id", "created_at", "id"],
        unique=False,
    )
    op.create_table(
        "consents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("granted_by", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("recipient_org_id", sa.Uuid(), nullable=True),
        sa.Column(
            "recipient_kinds",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column("categories", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("obtained_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("evidence_ref", sa.Text(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoke_reason", sa.Text(), nullable=True),
        sa.Column("recorded_by_org_id", sa.Uuid(), nullable=False),
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
            "cardinality(categories) > 0 AND categories <@ ARRAY['demographics', 'identity', 'exploitation', 'medical', 'counseling', 'legal', 'education', 'placement', 'general']::text[]",
            name=op.f("ck_consents_categories"),
        ),
        sa.CheckConstraint(
            "cardinality(granted_by) > 0 AND granted_by <@ ARRAY['survivor', 'guardian']::text[]",
            name=op.f("ck_consents_granted_by"),
        ),
        sa.CheckConstraint(
            "(recipient_org_id IS NOT NULL) <> (cardinality(recipient_kinds) > 0)",
            name=op.f("ck_consents_recipient"),
        ),
        sa.CheckConstraint(
            "expires_at IS NULL OR expires_at > obtained_at", name=op.f("ck_consents_expiry")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_consents_case_id_cases"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["recipient_org_id"],
            ["organizations.id"],
            name=op.f("fk_consents_recipient_org_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
    )
    op.create_index(op.f("ix_consents_case_id"), "consents", ["case_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_consents_case_id"), table_name="consents")
    op.drop_table("consents")
    op.drop_index("ix_case_updates_case_id_created_at_id", table_name="case_updates")
    op.drop_table("case_updates")
    op.drop_index(
        "uq_case_members_active",
        table_name="case_members",
        postgresql_where=sa.text("left_at IS NULL"),
    )
    op.drop_index(
        "ix_case_members_org_active",
        table_name="case_members",
        postgresql_where=sa.text("left_at IS NULL"),
    )
    op.drop_table("case_members")
    op.drop_table("case_keys")
    op.drop_index("ix_cases_lead_org_id_updated_at_id", table_name="cases")
    op.drop_table("cases")
    op.drop_index("ix_audit_log_case_ids", table_name="audit_log", postgresql_using="gin")
    op.drop_table("audit_log")
    op.drop_table("audit_heads")
