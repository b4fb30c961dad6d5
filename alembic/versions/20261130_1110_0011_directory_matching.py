"""directory matching

New service kinds (``basic_needs``, ``protection``, ``interpretation``) in every constraint that
lists them; ``cases.interpreter_needed`` (demographics); GIN indexes for the directory's array
filters, languages by primary subtag through the immutable ``language_primaries(text[])``.

Revision ID: 0011
Revises: 0006
Create Date: 2026-11-30 11:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0011"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = (
    "shelter",
    "medical",
    "counseling",
    "legal",
    "education",
    "job_training",
    "family_tracing",
    "repatriation",
    "community_placement",
    "other",
)
NEW = (*OLD[:-1], "basic_needs", "protection", "interpretation", "other")

# (table, constraint, column, whole array?)
CONSTRAINTS = (
    ("organizations", "ck_organizations_services", "services", True),
    ("organization_capacity", "ck_organization_capacity_service", "service", False),
    ("cases", "ck_cases_needs", "needs", True),
    ("referrals", "ck_referrals_service", "service", False),
)


def _check(column: str, array: bool, kinds: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{k}'" for k in kinds)
    if array:
        return f"{column} <@ ARRAY[{quoted}]::text[]"
    return f"{column} IN ({quoted})"


def _constraints(kinds: tuple[str, ...]) -> None:
    for table, name, column, array in CONSTRAINTS:
        op.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        op.execute(
            f'ALTER TABLE {table} ADD CONSTRAINT "{name}" CHECK ({_check(column, array, kinds)})'
        )


def upgrade() -> None:
    _constraints(NEW)
    op.add_column(
        "cases",
        sa.Column("interpreter_needed", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.execute(
        """
        CREATE FUNCTION language_primaries(tags text[]) RETURNS text[]
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
        RETURN ARRAY(SELECT DISTINCT lower(split_part(t, '-', 1)) FROM unnest(tags) t ORDER BY 1)
        """
    )
    for column in ("services", "regions", "genders"):
        op.create_index(
            f"ix_organizations_{column}", "organizations", [column], postgresql_using="gin"
        )
    op.execute(
        "CREATE INDEX ix_organizations_language_primaries ON organizations "
        "USING gin (language_primaries(languages))"
    )


def downgrade() -> None:
    op.drop_index("ix_organizations_language_primaries", table_name="organizations")
    for column in ("services", "regions", "genders"):
        op.drop_index(f"ix_organizations_{column}", table_name="organizations")
    op.execute("DROP FUNCTION language_primaries(text[])")
    op.drop_column("cases", "interpreter_needed")
    # Rows using the new kinds would break the old constraints: map them to `other`.
    for table, _name, column, array in CONSTRAINTS:
        for kind in ("basic_needs", "protection", "interpretation"):
            if array:
                op.execute(
                    f"UPDATE {table} SET {column} = array_replace({column}, '{kind}', 'other')"  # noqa: S608
                )
            else:
                op.execute(f"UPDATE {table} SET {column} = 'other' WHERE {column} = '{kind}'")  # noqa: S608
    _constraints(OLD)
