"""worker: markers for the timed jobs

What the worker has already announced, so that each timed event is written once however many
workers run: a consent's expiry (``consents.expiry_processed_at``) and, for a consent recorded
before it takes effect, its taking effect (``consents.activation_processed_at``), a referral's expiry with its
timeline entry and audit row (``referrals.expiry_processed_at``) and a placement's overdue visit
period (``placements.visit_overdue_notified_for``). What had already happened before this
migration is marked as announced: no burst of stale events on the first run.

Revision ID: 0008
Revises: 0012
Create Date: 2026-11-30 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0008"
# Chained after main's latest (0012) so that there is one head; re-chain freely.
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "consents", sa.Column("expiry_processed_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "consents",
        sa.Column("activation_processed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "referrals", sa.Column("expiry_processed_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "placements",
        sa.Column("visit_overdue_notified_for", sa.DateTime(timezone=True), nullable=True),
    )
    op.execute("UPDATE consents SET expiry_processed_at = now() WHERE expires_at <= now()")
    op.execute(
        "UPDATE consents SET activation_processed_at = now() "
        "WHERE obtained_at > created_at AND obtained_at <= now()"
    )
    op.create_index(
        "ix_consents_activation_unprocessed",
        "consents",
        ["obtained_at"],
        unique=False,
        postgresql_where=sa.text("obtained_at > created_at AND activation_processed_at IS NULL"),
    )
    op.execute("UPDATE referrals SET expiry_processed_at = now() WHERE status = 'expired'")
    op.create_index(
        "ix_consents_expiry_unprocessed",
        "consents",
        ["expires_at"],
        unique=False,
        postgresql_where=sa.text("expires_at IS NOT NULL AND expiry_processed_at IS NULL"),
    )
    op.create_index(
        "ix_referrals_expiry_unprocessed",
        "referrals",
        ["id"],
        unique=False,
        postgresql_where=sa.text("status = 'expired' AND expiry_processed_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_referrals_expiry_unprocessed", table_name="referrals")
    op.drop_index("ix_consents_expiry_unprocessed", table_name="consents")
    op.drop_index("ix_consents_activation_unprocessed", table_name="consents")
    op.drop_column("consents", "activation_processed_at")
    op.drop_column("placements", "visit_overdue_notified_for")
    op.drop_column("referrals", "expiry_processed_at")
    op.drop_column("consents", "expiry_processed_at")
