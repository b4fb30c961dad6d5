"""The schema, declared once with SQLAlchemy Core.

Alembic autogenerates and checks migrations against this metadata; repositories build their
statements from these tables (see ``app.db.query``). Constraint names follow one convention so
that an ``IntegrityError`` can be mapped to a clean domain error by name.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

TIMESTAMPTZ = sa.DateTime(timezone=True)
TEXT_ARRAY = pg.ARRAY(sa.Text)


def _now() -> sa.TextClause:
    return sa.text("now()")


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


def _all_in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} <@ ARRAY[{quoted}]::text[]"


# Vocabularies the database enforces (a test keeps them in step with app.domain.vocabulary).
ORGANIZATION_KINDS = (
    "ngo_shelter",
    "government_shelter",
    "community_care",
    "legal_partner",
    "medical_provider",
    "counseling_provider",
    "education_training",
    "other",
)
SERVICE_KINDS = (
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

organizations = sa.Table(
    "organizations",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("country", sa.CHAR(2), nullable=True),
    sa.Column("services", TEXT_ARRAY, nullable=False, server_default=sa.text("'{}'")),
    sa.Column("languages", TEXT_ARRAY, nullable=False, server_default=sa.text("'{}'")),
    sa.Column("regions", TEXT_ARRAY, nullable=False, server_default=sa.text("'{}'")),
    sa.Column("accepts_minors", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("accepts_adults", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("genders", TEXT_ARRAY, nullable=False, server_default=sa.text("'{}'")),
    sa.Column("created_at", TIMESTAMPTZ, nullable=False, server_default=_now()),
    sa.Column("updated_at", TIMESTAMPTZ, nullable=False, server_default=_now()),
    sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("1")),
    sa.CheckConstraint(_in("kind", ORGANIZATION_KINDS), name="kind"),
    sa.CheckConstraint(_all_in("services", SERVICE_KINDS), name="services"),
    sa.CheckConstraint("country ~ '^[A-Z]{2}$'", name="country"),
    sa.CheckConstraint("length(name) BETWEEN 1 AND 200", name="name_length"),
)
sa.Index("ix_organizations_name_id", organizations.c.name, organizations.c.id)

organization_capacity = sa.Table(
    "organization_capacity",
    metadata,
    sa.Column(
        "org_id",
        sa.Uuid,
        sa.ForeignKey("organizations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("service", sa.Text, primary_key=True),
    sa.Column("available", sa.Integer, nullable=False),
    sa.Column("maximum", sa.Integer, nullable=False),
    sa.Column("updated_at", TIMESTAMPTZ, nullable=False, server_default=_now()),
    sa.CheckConstraint("available >= 0 AND available <= maximum", name="available_range"),
    sa.CheckConstraint(_in("service", SERVICE_KINDS), name="service"),
)

oauth_clients = sa.Table(
    "oauth_clients",
    metadata,
    sa.Column("client_id", sa.Text, primary_key=True),
    sa.Column(
        "org_id",
        sa.Uuid,
        sa.ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("secret_hash", sa.Text, nullable=False),
    sa.Column("scopes", TEXT_ARRAY, nullable=False),
    sa.Column("created_at", TIMESTAMPTZ, nullable=False, server_default=_now()),
    sa.Column("disabled_at", TIMESTAMPTZ, nullable=True),
)

revoked_tokens = sa.Table(
    "revoked_tokens",
    metadata,
    sa.Column("jti", sa.Uuid, primary_key=True),
    sa.Column("client_id", sa.Text, nullable=False),
    sa.Column("expires_at", TIMESTAMPTZ, nullable=False, index=True),
    sa.Column("revoked_at", TIMESTAMPTZ, nullable=False, server_default=_now()),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("client_id", sa.Text, primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("method", sa.Text, nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("request_hash", sa.LargeBinary, nullable=False),
    sa.Column("response_status", sa.Integer, nullable=False),
    sa.Column("response_headers", pg.JSONB, nullable=False),
    sa.Column("response_body", sa.LargeBinary, nullable=False),
    sa.Column("created_at", TIMESTAMPTZ, nullable=False, server_default=_now()),
    sa.Column("expires_at", TIMESTAMPTZ, nullable=False, index=True),
    sa.CheckConstraint("length(key) BETWEEN 1 AND 255", name="key_length"),
)
