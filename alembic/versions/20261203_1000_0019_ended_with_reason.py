"""placements end with a reason, follow-ups are recorded with an outcome

A placement's `ended_at` and `exit_reason` are written together (`POST
…/placements/{id}/end`), as are a follow-up's `recorded_at` and `outcome` (`POST
…/follow-ups/{id}/record`); the reports count ended placements by exit reason and recorded
follow-ups by outcome, so a row with one and not the other would drop out of its breakdown. The
database now refuses such a row.

Rows that break the rule already (the API never wrote one) stop the migration first, with their
number and nothing changed. Each constraint is then added `NOT VALID` (a brief exclusive lock;
new rows are checked from then on) and committed, and the existing rows are validated outside
that transaction, under a lock that lets reads and writes go on.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

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
    connection = op.get_bind()
    for table, name, condition in CONSTRAINTS:
        broken = connection.execute(
            sa.text(f"SELECT count(*) FROM {table} WHERE NOT ({condition})")  # noqa: S608
        ).scalar_one()
        if broken:
            raise RuntimeError(
                f"{broken} row(s) of {table} break {name} ({condition}); correct them, then "
                "migrate again"
            )
    for table, name, condition in CONSTRAINTS:
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({condition}) NOT VALID")
    with op.get_context().autocommit_block():
        for table, name, _ in CONSTRAINTS:
            op.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}")


def downgrade() -> None:
    for table, name, _ in CONSTRAINTS:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
