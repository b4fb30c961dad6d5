"""placements end with a reason, follow-ups are recorded with an outcome

A placement's `ended_at` and `exit_reason` are written together (`PATCH …/placements/{id}`), as
are a follow-up's `recorded_at` and `outcome` (`POST …/follow-ups/{id}/record`); the reports
count ended placements by exit reason and recorded follow-ups by outcome, so a row with one and
not the other would drop out of its breakdown. The database now refuses such a row. Each
constraint is added `NOT VALID` and then validated, so the check of the existing rows holds only
a lock that lets reads and writes go on.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONSTRAINTS = (
    ("placements", "ck_placements_ended_with_reason", "(ended_at IS NULL) = (exit_reason IS NULL)"),
    (
        "follow_ups",
        "ck_follow_ups_recorded_with_outcome",
        "(recorded_at IS NULL) = (outcome IS NULL)",
    ),
)


def upgrade() -> None:
    for table, name, condition in CONSTRAINTS:
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({condition}) NOT VALID")
        op.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}")


def downgrade() -> None:
    for table, name, _ in CONSTRAINTS:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
