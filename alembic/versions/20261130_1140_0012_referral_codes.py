"""referral outcome codes

``referrals.reason_code`` (why a referral was declined or failed) and ``referrals.outcome_code``
(how a completed one ended): countable codes beside the encrypted free text. Referrals that
already ended keep NULL (their code was never given); new transitions store the code or its
default (``other``, ``service_provided``).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 11:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REASONS = (
    "no_capacity",
    "not_eligible",
    "unable_to_contact",
    "survivor_declined",
    "service_unavailable",
    "lost_contact",
    "other",
)
OUTCOMES = ("service_provided", "goal_achieved", "partially_achieved", "referred_elsewhere")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IS NULL OR {column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    op.add_column("referrals", sa.Column("reason_code", sa.Text(), nullable=True))
    op.add_column("referrals", sa.Column("outcome_code", sa.Text(), nullable=True))
    op.create_check_constraint("reason_code", "referrals", _in("reason_code", REASONS))
    op.create_check_constraint("outcome_code", "referrals", _in("outcome_code", OUTCOMES))


def downgrade() -> None:
    op.drop_constraint(op.f("ck_referrals_outcome_code"), "referrals", type_="check")
    op.drop_constraint(op.f("ck_referrals_reason_code"), "referrals", type_="check")
    op.drop_column("referrals", "outcome_code")
    op.drop_column("referrals", "reason_code")
