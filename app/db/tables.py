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

# Tables that only grow (rows leave by retention, in batches): autovacuum analyzes them after a
# fixed number of changed rows plus the usual 10 %, not every 10 % of a young table (each
# analysis invalidates every connection's plans on the table; migration 0018).
APPEND_ONLY = {"autovacuum_analyze_threshold": 100_000}

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
    "basic_needs",
    "protection",
    "interpretation",
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
# Directory matching: each array filter is one GIN index scan (`@>`). Languages match on their
# primary subtag (`th` finds `th-TH`) through an immutable SQL function (migration 0011).
for _column in ("services", "regions", "genders"):
    sa.Index(f"ix_organizations_{_column}", organizations.c[_column], postgresql_using="gin")
sa.Index(
    "ix_organizations_language_primaries",
    sa.func.language_primaries(organizations.c.languages),
    postgresql_using="gin",
)

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
    # Sealed with the KEK: a 201 holds the free text it was sent (a case's creation stores an
    # empty body: its replay renders the case afresh). NULL once erased with the case's identity
    # (the key stays: a retry is refused, not run again).
    sa.Column("response_body", sa.LargeBinary, nullable=True),
    sa.Column("case_id", sa.Uuid, nullable=True, index=True),
    sa.Column("created_at", TIMESTAMPTZ, nullable=False, server_default=_now()),
    sa.Column("expires_at", TIMESTAMPTZ, nullable=False, index=True),
    sa.CheckConstraint("length(key) BETWEEN 1 AND 255", name="key_length"),
    postgresql_with=APPEND_ONLY,
)

CATEGORIES = (
    "demographics",
    "identity",
    "exploitation",
    "medical",
    "counseling",
    "legal",
    "education",
    "placement",
    "general",
)
GENDERS = ("female", "male", "non_binary", "other", "undisclosed")
UUID_ARRAY = pg.ARRAY(sa.Uuid)

cases = sa.Table(
    "cases",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("reference", sa.Text, nullable=False, unique=True),
    sa.Column("lead_org_id", sa.Uuid, sa.ForeignKey("organizations.id"), nullable=False),
    # The lead's own reference, encrypted with the case's data key (NULL after a lead transfer:
    # it reads as `reference` until the new lead sets its own), and its keyed blind index
    # (HMAC over lead + reference; app.domain.crypto) for equality lookups and uniqueness.
    sa.Column("external_ref_enc", sa.LargeBinary, nullable=True),
    sa.Column("external_ref_hash", sa.LargeBinary, nullable=True),
    sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'open'")),
    sa.Column("close_reason_enc", sa.LargeBinary, nullable=True),
    sa.Column("closed_at", TIMESTAMPTZ, nullable=True),
    # demographics (plain)
    sa.Column("gender", sa.Text, nullable=False),
    sa.Column("nationality", sa.CHAR(2), nullable=True),
    sa.Column("languages", TEXT_ARRAY, nullable=False, server_default=sa.text("'{}'")),
    sa.Column("interpreter_needed", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("is_minor", sa.Boolean, nullable=False),
    sa.Column("age_band", sa.Text, nullable=False),
    # identity (each field encrypted with the case's data key; see app.domain.crypto)
    sa.Column("given_name_enc", sa.LargeBinary, nullable=True),
    sa.Column("family_name_enc", sa.LargeBinary, nullable=True),
    sa.Column("aliases_enc", sa.LargeBinary, nullable=True),
    sa.Column("date_of_birth_enc", sa.LargeBinary, nullable=True),
    sa.Column("birth_year_enc", sa.LargeBinary, nullable=True),
    sa.Column("contact_enc", sa.LargeBinary, nullable=True),
    sa.Column("guardian_enc", sa.LargeBinary, nullable=True),
    sa.Column("identity_erased_at", TIMESTAMPTZ, nullable=True),
    # exploitation
    sa.Column("exploitation_types", TEXT_ARRAY, nullable=False, server_default=sa.text("'{}'")),
    sa.Column("identified_on", sa.Date, nullable=True),
    sa.Column("identified_country", sa.CHAR(2), nullable=True),
    # general
    sa.Column("needs", TEXT_ARRAY, nullable=False, server_default=sa.text("'{}'")),
    sa.Column("risk_level", sa.Text, nullable=True),
    sa.Column("created_at", TIMESTAMPTZ, nullable=False, server_default=_now()),
    sa.Column("updated_at", TIMESTAMPTZ, nullable=False, server_default=_now()),
    sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("1")),
    sa.UniqueConstraint("lead_org_id", "external_ref_hash"),
    sa.CheckConstraint("status IN ('open', 'closed')", name="status"),
    sa.CheckConstraint(_in("gender", GENDERS), name="gender"),
    sa.CheckConstraint(
        "risk_level IS NULL OR risk_level IN ('low', 'medium', 'high', 'critical')",
        name="risk_level",
    ),
    sa.CheckConstraint(_all_in("needs", SERVICE_KINDS), name="needs"),
)
sa.Index("ix_cases_lead_org_id_updated_at_id", cases.c.lead_org_id, cases.c.updated_at, cases.c.id)
# Walks in page order across every case, for pages that mix the cases a partner leads with those
# it serves on the care team of (the case list) or has no legal record yet (the testimony pull):
# the walk stops at the page size, so its cost does not grow with the table; the lead is in the
# index, so walking past the cases of others reads no table row (migration 0014).
sa.Index(
    "ix_cases_updated_at_id",
    cases.c.updated_at,
    cases.c.id,
    postgresql_include=["lead_org_id"],
)
sa.Index(
    "ix_cases_created_at_id",
    cases.c.created_at,
    cases.c.id,
    postgresql_include=["lead_org_id"],
)

case_keys = sa.Table(
    "case_keys",
    metadata,
    sa.Column("case_id", sa.Uuid, sa.ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("wrapped_key", sa.LargeBinary, nullable=False),
    sa.Column("kek_id", sa.Text, nullable=False),
    sa.Column("created_at", TIMESTAMPTZ, nullable=False, server_default=_now()),
)

case_members = sa.Table(
    "case_members",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("case_id", sa.Uuid, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    sa.Column("org_id", sa.Uuid, sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("categories", TEXT_ARRAY, nullable=False),
    sa.Column("referral_id", sa.Uuid, nullable=True),
    sa.Column("joined_at", TIMESTAMPTZ, nullable=False, server_default=_now()),
    sa.Column("left_at", TIMESTAMPTZ, nullable=True),
    sa.CheckConstraint(_all_in("categories", CATEGORIES), name="categories"),
)
# One membership per referral; an organisation with two active referrals on a case holds two.
sa.Index(
    "uq_case_members_referral_id",
    case_members.c.referral_id,
    unique=True,
    postgresql_where=case_members.c.referral_id.is_not(None),
)
sa.Index(
    "ix_case_members_case_active",
    case_members.c.case_id,
    case_members.c.org_id,
    postgresql_where=case_members.c.left_at.is_(None),
)
sa.Index(
    "ix_case_members_org_active",
    case_members.c.org_id,
    case_members.c.case_id,
    postgresql_where=case_members.c.left_at.is_(None),
)
# Active memberships sharing `legal`: the testimony pull tests each case it walks against this
# small index (a fraction of all memberships) without reading the table (migration 0014).
sa.Index(
    "ix_case_members_legal_active",
    case_members.c.case_id,
    case_members.c.org_id,
    postgresql_where=sa.text("left_at IS NULL AND 'legal' = ANY (categories)"),
)

consents = sa.Table(
    "consents",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column(
        "case_id",
        sa.Uuid,
        sa.ForeignKey("cases.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("granted_by", TEXT_ARRAY, nullable=False),
    sa.Column("recipient_org_id", sa.Uuid, sa.ForeignKey("organizations.id"), nullable=True),
    sa.Column("recipient_kinds", TEXT_ARRAY, nullable=False, server_default=sa.text("'{}'")),
    sa.Column("categories", TEXT_ARRAY, nullable=False),
    # Free text is encrypted with the case's data key (app.domain.freetext).
    sa.Column("purpose_enc", sa.LargeBinary, nullable=False),
    sa.Column("obtained_at", TIMESTAMPTZ, nullable=False),
    sa.Column("expires_at", TIMESTAMPTZ, nullable=True),
    sa.Column("evidence_ref_enc", sa.LargeBinary, nullable=True),
    sa.Column("revoked_at", TIMESTAMPTZ, nullable=True),
    sa.Column("revoke_reason_enc", sa.LargeBinary, nullable=True),
    sa.Column("recorded_by_org_id", sa.Uuid, nullable=False),
    # When the worker emitted what this consent's expiry changed, and (for a consent recorded
    # before its `obtained_at`) what its taking effect changed (app.domain.timed_jobs).
    sa.Column("expiry_processed_at", TIMESTAMPTZ, nullable=True),
    sa.Column("activation_processed_at", TIMESTAMPTZ, nullable=True),
    sa.Column("created_at", TIMESTAMPTZ, nullable=False, server_default=_now()),
    sa.Column("updated_at", TIMESTAMPTZ, nullable=False, server_default=_now()),
    sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("1")),
    sa.CheckConstraint(
        "(recipient_org_id IS NOT NULL) <> (cardinality(recipient_kinds) > 0)", name="recipient"
    ),
    sa.CheckConstraint(
        "cardinality(granted_by) > 0 AND granted_by <@ ARRAY['survivor', 'guardian']::text[]",
        name="granted_by",
    ),
    sa.CheckConstraint(
        "cardinality(categories) > 0 AND " + _all_in("categories", CATEGORIES), name="categories"
    ),
    sa.CheckConstraint("expires_at IS NULL OR expires_at > obtained_at", name="expiry"),
)
# A case's consents in page order: a page (also each case's under a GraphQL page of cases) stops
# at its limit; it serves every lookup by case too.
sa.Index(
    "ix_consents_case_id_created_at_id", consents.c.case_id, consents.c.created_at, consents.c.id
)
sa.Index(
    "ix_consents_activation_unprocessed",
    consents.c.obtained_at,
    postgresql_where=sa.text("obtained_at > created_at AND activation_processed_at IS NULL"),
)
sa.Index(
    "ix_consents_expiry_unprocessed",
    consents.c.expires_at,
    postgresql_where=sa.text("expires_at IS NOT NULL AND expiry_processed_at IS NULL"),
)

case_updates = sa.Table(
    "case_updates",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("case_id", sa.Uuid, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    sa.Column("author_org_id", sa.Uuid, nullable=False),
    sa.Column("author_client_id", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("category", sa.Text, nullable=False),
    sa.Column("occurred_at", TIMESTAMPTZ, nullable=False),
    sa.Column("summary_enc", sa.LargeBinary, nullable=False),
    sa.Column("details_enc", sa.LargeBinary, nullable=True),
    sa.Column("supersedes", sa.Uuid, sa.ForeignKey("case_updates.id"), nullable=True),
    sa.Column("created_at", TIMESTAMPTZ, nullable=False, server_default=_now()),
    sa.CheckConstraint(_in("category", CATEGORIES), name="category"),
    sa.CheckConstraint(
        _in(
            "kind",
            ("note", "service_delivered", "assessment", "incident", "status_change", "follow_up"),
        ),
        name="kind",
    ),
    postgresql_with=APPEND_ONLY,
)
sa.Index(
    "ix_case_updates_case_id_created_at_id",
    case_updates.c.case_id,
    case_updates.c.created_at,
    case_updates.c.id,
)

# Tamper-evident audit: per acting organisation, up to 256 hash chains (`chain`, chosen per
# database connection). `audit_heads` holds each chain's latest (seq, hash); appending updates the
# head row, whose row lock serialises the writers of that chain.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("org_id", sa.Uuid, primary_key=True),
    sa.Column("chain", sa.SmallInteger, primary_key=True, server_default=sa.text("0")),
    sa.Column("seq", sa.BigInteger, primary_key=True),
    sa.Column("hash", sa.LargeBinary, nullable=False),
    sa.Column("occurred_at", TIMESTAMPTZ, nullable=False),
    sa.Column("client_id", sa.Text, nullable=False),
    sa.Column("jti", sa.Uuid, nullable=True),
    sa.Column("request_id", sa.Text, nullable=True),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("case_ids", UUID_ARRAY, nullable=False),
    sa.Column("categories", TEXT_ARRAY, nullable=False),
    postgresql_with=APPEND_ONLY,
)
sa.Index("ix_audit_log_case_ids", audit_log.c.case_ids, postgresql_using="gin")

audit_heads = sa.Table(
    "audit_heads",
    metadata,
    sa.Column("org_id", sa.Uuid, primary_key=True),
    sa.Column("chain", sa.SmallInteger, primary_key=True, server_default=sa.text("0")),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.LargeBinary, nullable=False),
)

REFERRAL_STATUSES = (
    "pending",
    "accepted",
    "declined",
    "withdrawn",
    "expired",
    "in_progress",
    "completed",
    "failed",
)

REFERRAL_REASON_CODES = (
    "no_capacity",
    "not_eligible",
    "unable_to_contact",
    "survivor_declined",
    "service_unavailable",
    "lost_contact",
    "other",
)
REFERRAL_OUTCOME_CODES = (
    "service_provided",
    "goal_achieved",
    "partially_achieved",
    "referred_elsewhere",
)
referrals = sa.Table(
    "referrals",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("case_id", sa.Uuid, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    sa.Column("from_org_id", sa.Uuid, sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("to_org_id", sa.Uuid, sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("service", sa.Text, nullable=False),
    sa.Column("urgency", sa.Text, nullable=False),
    sa.Column("reason_enc", sa.LargeBinary, nullable=False),
    sa.Column("shared_categories", TEXT_ARRAY, nullable=False),
    sa.Column("respond_by", TIMESTAMPTZ, nullable=True),
    sa.Column("transfer_lead", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'pending'")),
    sa.Column("status_reason_enc", sa.LargeBinary, nullable=True),
    sa.Column("outcome_enc", sa.LargeBinary, nullable=True),
    # Coded outcomes (countable, no free text): decline/fail reasons and completion outcomes.
    sa.Column("reason_code", sa.Text, nullable=True),
    sa.Column("outcome_code", sa.Text, nullable=True),
    sa.Column("capacity_held", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_by_client_id", sa.Text, nullable=False),
    sa.Column("responded_at", TIMESTAMPTZ, nullable=True),
    sa.Column("started_at", TIMESTAMPTZ, nullable=True),
    sa.Column("ended_at", TIMESTAMPTZ, nullable=True),
    # When the worker wrote the expiry's timeline entry, audit row and events (an expired
    # referral may have been stored as expired by a read before the worker saw it).
    sa.Column("expiry_processed_at", TIMESTAMPTZ, nullable=True),
    sa.Column("created_at", TIMESTAMPTZ, nullable=False, server_default=_now()),
    sa.Column("updated_at", TIMESTAMPTZ, nullable=False, server_default=_now()),
    sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("1")),
    sa.CheckConstraint(_in("status", REFERRAL_STATUSES), name="status"),
    sa.CheckConstraint(_in("service", SERVICE_KINDS), name="service"),
    sa.CheckConstraint("urgency IN ('emergency', 'high', 'routine')", name="urgency"),
    sa.CheckConstraint(_all_in("shared_categories", CATEGORIES), name="shared_categories"),
    sa.CheckConstraint("from_org_id <> to_org_id", name="not_to_self"),
    sa.CheckConstraint(
        "reason_code IS NULL OR " + _in("reason_code", REFERRAL_REASON_CODES), name="reason_code"
    ),
    sa.CheckConstraint(
        "outcome_code IS NULL OR " + _in("outcome_code", REFERRAL_OUTCOME_CODES),
        name="outcome_code",
    ),
)
sa.Index(
    "ix_referrals_to_org_id_created_at_id",
    referrals.c.to_org_id,
    referrals.c.created_at,
    referrals.c.id,
)
sa.Index(
    "ix_referrals_from_org_id_created_at_id",
    referrals.c.from_org_id,
    referrals.c.created_at,
    referrals.c.id,
)
# A case's referrals in page order: GraphQL's nested lists take the first page of each case in
# a page of cases from it (app.db.repositories.referrals.pages_query).
sa.Index(
    "ix_referrals_case_id_created_at_id",
    referrals.c.case_id,
    referrals.c.created_at,
    referrals.c.id,
)
sa.Index(
    "ix_referrals_pending_respond_by",
    referrals.c.respond_by,
    postgresql_where=sa.text("status = 'pending'"),
)
sa.Index(
    "ix_referrals_expiry_unprocessed",
    referrals.c.id,
    postgresql_where=sa.text("status = 'expired' AND expiry_processed_at IS NULL"),
)

legal_records = sa.Table(
    "legal_records",
    metadata,
    sa.Column("case_id", sa.Uuid, sa.ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("documents", pg.JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    sa.Column("testimony_status", sa.Text, nullable=False, server_default=sa.text("'not_started'")),
    sa.Column("protective_measures", TEXT_ARRAY, nullable=False, server_default=sa.text("'{}'")),
    sa.Column("next_session_at", TIMESTAMPTZ, nullable=True),
    sa.Column("prosecution_status", sa.Text, nullable=False, server_default=sa.text("'none'")),
    sa.Column("next_hearing_at", TIMESTAMPTZ, nullable=True),
    sa.Column("immigration_relief_type_enc", sa.LargeBinary, nullable=True),
    sa.Column("immigration_relief_status", sa.Text, nullable=True),
    sa.Column("updated_by_org_id", sa.Uuid, nullable=False),
    sa.Column("created_at", TIMESTAMPTZ, nullable=False, server_default=_now()),
    sa.Column("updated_at", TIMESTAMPTZ, nullable=False, server_default=_now()),
    sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("1")),
    sa.CheckConstraint(
        _in(
            "testimony_status",
            ("not_started", "in_preparation", "ready", "testified", "declined", "deferred"),
        ),
        name="testimony_status",
    ),
    sa.CheckConstraint(
        _in("prosecution_status", ("none", "investigation", "charged", "trial", "concluded")),
        name="prosecution_status",
    ),
)
sa.Index("ix_legal_records_updated_at", legal_records.c.updated_at, legal_records.c.case_id)

home_reviews = sa.Table(
    "home_reviews",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column(
        "case_id",
        sa.Uuid,
        sa.ForeignKey("cases.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("reviewer_org_id", sa.Uuid, nullable=False),
    sa.Column("reviewed_at", TIMESTAMPTZ, nullable=False),
    sa.Column("result", sa.Text, nullable=False),
    sa.Column("notes_enc", sa.LargeBinary, nullable=True),
    sa.Column("created_at", TIMESTAMPTZ, nullable=False, server_default=_now()),
    sa.CheckConstraint("result IN ('approved', 'rejected')", name="result"),
)

PLACEMENT_SETTINGS = (
    "government_shelter",
    "ngo_shelter",
    "community_family",
    "foster_family",
    "independent_living",
    "other",
)
EXIT_REASONS = (
    "transferred",
    "reunified_with_family",
    "independent_living",
    "repatriated",
    "left_against_advice",
    "aged_out",
    "other",
)

placements = sa.Table(
    "placements",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column(
        "case_id",
        sa.Uuid,
        sa.ForeignKey("cases.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("org_id", sa.Uuid, sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("placed_by_org_id", sa.Uuid, nullable=False),
    sa.Column("setting", sa.Text, nullable=False),
    sa.Column("home_review_id", sa.Uuid, sa.ForeignKey("home_reviews.id"), nullable=True),
    sa.Column("started_at", TIMESTAMPTZ, nullable=False),
    sa.Column("ended_at", TIMESTAMPTZ, nullable=True),
    sa.Column("exit_reason", sa.Text, nullable=True),
    sa.Column("authorization_ref_enc", sa.LargeBinary, nullable=True),
    # The overdue period the worker announced (placement.visit_overdue): the last visit, or the
    # start, after which no visit came within the interval. A later visit opens a new period.
    sa.Column("visit_overdue_notified_for", TIMESTAMPTZ, nullable=True),
    sa.Column("created_at", TIMESTAMPTZ, nullable=False, server_default=_now()),
    sa.Column("updated_at", TIMESTAMPTZ, nullable=False, server_default=_now()),
    sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("1")),
    sa.CheckConstraint(_in("setting", PLACEMENT_SETTINGS), name="setting"),
    sa.CheckConstraint(
        "exit_reason IS NULL OR " + _in("exit_reason", EXIT_REASONS), name="exit_reason"
    ),
    sa.CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="ended_after_start"),
    sa.CheckConstraint("(ended_at IS NULL) = (exit_reason IS NULL)", name="ended_with_reason"),
)
# A case's placements in page order (as consents above).
sa.Index(
    "ix_placements_case_id_started_at_id",
    placements.c.case_id,
    placements.c.started_at,
    placements.c.id,
)
sa.Index(
    "uq_placements_one_active_per_case",
    placements.c.case_id,
    unique=True,
    postgresql_where=placements.c.ended_at.is_(None),
)

placement_visits = sa.Table(
    "placement_visits",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column(
        "placement_id",
        sa.Uuid,
        sa.ForeignKey("placements.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("visitor_org_id", sa.Uuid, nullable=False),
    sa.Column("visited_at", TIMESTAMPTZ, nullable=False),
    sa.Column("summary_enc", sa.LargeBinary, nullable=False),
    sa.Column("created_at", TIMESTAMPTZ, nullable=False, server_default=_now()),
)
sa.Index(
    "ix_placement_visits_placement_id_visited_at",
    placement_visits.c.placement_id,
    placement_visits.c.visited_at,
)

follow_ups = sa.Table(
    "follow_ups",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column(
        "case_id",
        sa.Uuid,
        sa.ForeignKey("cases.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("org_id", sa.Uuid, nullable=False),
    sa.Column("due_on", sa.Date, nullable=False),
    sa.Column("contacted_at", TIMESTAMPTZ, nullable=True),
    sa.Column("outcome", sa.Text, nullable=True),
    sa.Column("recorded_at", TIMESTAMPTZ, nullable=True),
    sa.Column("created_at", TIMESTAMPTZ, nullable=False, server_default=_now()),
    sa.Column("updated_at", TIMESTAMPTZ, nullable=False, server_default=_now()),
    sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("1")),
    sa.CheckConstraint(
        "outcome IS NULL OR outcome IN "
        "('stable', 'at_risk', 're_exploited', 'lost_contact', 'declined_contact')",
        name="outcome",
    ),
    sa.CheckConstraint("(recorded_at IS NULL) = (outcome IS NULL)", name="recorded_with_outcome"),
)
sa.Index(
    "ix_follow_ups_org_open_due",
    follow_ups.c.org_id,
    follow_ups.c.due_on,
    follow_ups.c.id,
    postgresql_where=follow_ups.c.recorded_at.is_(None),
)

# -- events and webhooks (app.domain.events, app.domain.webhooks) --------------------------------
EVENT_TYPES = (
    "referral.created",
    "referral.accepted",
    "referral.declined",
    "referral.started",
    "referral.completed",
    "referral.failed",
    "referral.withdrawn",
    "referral.expired",
    "case.updated",
    "case.update_added",
    "case.access_granted",
    "case.access_revoked",
    "case.lead_transferred",
    "case.closed",
    "case.identity_erased",
    "consent.revoked",
    "case.risk_raised",
    "goal.created",
    "goal.updated",
    "service.created",
    "service.updated",
    "follow_up.recorded",
    "placement.visit_overdue",
    "webhook.disabled",
    "webhook.test",
)

# The outbox and the change feed: one row per recipient organisation, written in the transaction
# of the change it describes. `txid` is that transaction's id: the feed only shows rows whose
# transaction is older than every transaction still running (pg_snapshot_xmin), in (txid, seq)
# order, so a reader never steps past an event that commits later with a smaller sequence number.
events = sa.Table(
    "events",
    metadata,
    sa.Column("seq", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("id", sa.Uuid, nullable=False, unique=True),
    sa.Column(
        "org_id",
        sa.Uuid,
        sa.ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "txid",
        sa.BigInteger,
        nullable=False,
        server_default=sa.text("(pg_current_xact_id())::text::bigint"),
    ),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("occurred_at", TIMESTAMPTZ, nullable=False, server_default=_now()),
    sa.Column("subject_type", sa.Text, nullable=False),
    sa.Column("subject_id", sa.Uuid, nullable=False),
    sa.Column("case_id", sa.Uuid, nullable=True),
    sa.Column("data", pg.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.CheckConstraint(_in("type", EVENT_TYPES), name="type"),
    postgresql_with=APPEND_ONLY,
)
sa.Index("ix_events_org_id_txid_seq", events.c.org_id, events.c.txid, events.c.seq)
sa.Index("ix_events_occurred_at", events.c.occurred_at)

# How far retention has pruned the feed: a cursor at or before `pruned_txid` may have missed
# events (410 cursor_expired). One row.
event_retention = sa.Table(
    "event_retention",
    metadata,
    sa.Column("id", sa.Boolean, primary_key=True, server_default=sa.text("true")),
    sa.Column("pruned_txid", sa.BigInteger, nullable=False, server_default=sa.text("0")),
    sa.Column("pruned_at", TIMESTAMPTZ, nullable=True),
    sa.CheckConstraint("id", name="one_row"),
)

WEBHOOK_STATUSES = ("active", "disabled")
webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column(
        "org_id",
        sa.Uuid,
        sa.ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("event_types", TEXT_ARRAY, nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'active'")),
    # Signing secrets, sealed under the key-encryption key (app.domain.crypto); the previous one
    # keeps signing beside the new one until `previous_secret_expires_at` (rotation).
    sa.Column("secret_enc", sa.LargeBinary, nullable=False),
    sa.Column("previous_secret_enc", sa.LargeBinary, nullable=True),
    sa.Column("previous_secret_expires_at", TIMESTAMPTZ, nullable=True),
    sa.Column("consecutive_failures", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("disabled_at", TIMESTAMPTZ, nullable=True),
    sa.Column("created_at", TIMESTAMPTZ, nullable=False, server_default=_now()),
    sa.Column("updated_at", TIMESTAMPTZ, nullable=False, server_default=_now()),
    sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("1")),
    sa.CheckConstraint(_in("status", WEBHOOK_STATUSES), name="status"),
)

# One delivery per (subscription, event), created with the event; the worker claims due ones
# (FOR UPDATE SKIP LOCKED), leases them until `leased_until` and records each attempt.
DELIVERY_STATUSES = ("pending", "succeeded", "failed")
webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column(
        "webhook_id",
        sa.Uuid,
        sa.ForeignKey("webhooks.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "event_id",
        sa.Uuid,
        sa.ForeignKey("events.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'pending'")),
    sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("next_attempt_at", TIMESTAMPTZ, nullable=True, server_default=_now()),
    sa.Column("leased_until", TIMESTAMPTZ, nullable=True),
    sa.Column("last_response_status", sa.Integer, nullable=True),
    sa.Column("created_at", TIMESTAMPTZ, nullable=False, server_default=_now()),
    sa.Column("updated_at", TIMESTAMPTZ, nullable=False, server_default=_now()),
    sa.UniqueConstraint("webhook_id", "event_id"),
    sa.CheckConstraint(_in("status", DELIVERY_STATUSES), name="status"),
)
sa.Index(
    "ix_webhook_deliveries_due",
    webhook_deliveries.c.next_attempt_at,
    postgresql_where=webhook_deliveries.c.status == "pending",
)

# The delivery log: one row per attempt (no response body is kept).
webhook_attempts = sa.Table(
    "webhook_attempts",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column(
        "delivery_id",
        sa.Uuid,
        sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("webhook_id", sa.Uuid, nullable=False),
    sa.Column("event_id", sa.Uuid, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("response_status", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("duration_ms", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", TIMESTAMPTZ, nullable=True),
    sa.Column("created_at", TIMESTAMPTZ, nullable=False, server_default=_now()),
    sa.CheckConstraint("status IN ('succeeded', 'failed')", name="status"),
    postgresql_with=APPEND_ONLY,
)
sa.Index(
    "ix_webhook_attempts_webhook_id_created_at_id",
    webhook_attempts.c.webhook_id,
    webhook_attempts.c.created_at,
    webhook_attempts.c.id,
)

# -- the care plan: goals and service records (app.domain.care_plan) -----------------------------
# Each row belongs to one category of its case, which decides who sees and writes it (the one
# access policy). Free text (title, description, note, notes) is sealed with the case's data key.
GOAL_STATUSES = ("active", "on_hold", "achieved", "not_achieved", "cancelled")
CARE_PLAN_CATEGORIES = ("medical", "counseling", "legal", "education", "placement", "general")
SERVICE_TYPES = ("appointment", "session", "enrolment", "assessment", "supply")
SERVICE_STATUSES = ("scheduled", "attended", "missed", "cancelled", "completed")

goals = sa.Table(
    "goals",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("case_id", sa.Uuid, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    sa.Column("category", sa.Text, nullable=False),
    sa.Column("owner_org_id", sa.Uuid, sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("created_by_org_id", sa.Uuid, nullable=False),
    sa.Column("title_enc", sa.LargeBinary, nullable=False),
    sa.Column("description_enc", sa.LargeBinary, nullable=True),
    sa.Column("target_date", sa.Date, nullable=True),
    sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'active'")),
    sa.Column("created_at", TIMESTAMPTZ, nullable=False, server_default=_now()),
    sa.Column("updated_at", TIMESTAMPTZ, nullable=False, server_default=_now()),
    sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("1")),
    sa.CheckConstraint(_in("status", GOAL_STATUSES), name="status"),
    sa.CheckConstraint(_in("category", CARE_PLAN_CATEGORIES), name="category"),
)
sa.Index("ix_goals_case_id_created_at_id", goals.c.case_id, goals.c.created_at, goals.c.id)
# Goals an organisation owns on a case (the lead is told when that owner leaves the care team).
sa.Index("ix_goals_case_id_owner_org_id", goals.c.case_id, goals.c.owner_org_id)

# A goal's status history: one row per progress entry, oldest first.
goal_progress = sa.Table(
    "goal_progress",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("goal_id", sa.Uuid, sa.ForeignKey("goals.id", ondelete="CASCADE"), nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("note_enc", sa.LargeBinary, nullable=True),
    sa.Column("recorded_at", TIMESTAMPTZ, nullable=False),
    sa.Column("recorded_by_org_id", sa.Uuid, nullable=False),
    sa.Column("created_at", TIMESTAMPTZ, nullable=False, server_default=_now()),
    sa.CheckConstraint(_in("status", GOAL_STATUSES), name="status"),
)
sa.Index(
    "ix_goal_progress_goal_id_created_at_id",
    goal_progress.c.goal_id,
    goal_progress.c.created_at,
    goal_progress.c.id,
)

# `service` is a service kind, checked by the domain's vocabulary (the directory's list grows).
service_records = sa.Table(
    "service_records",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("case_id", sa.Uuid, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    sa.Column("category", sa.Text, nullable=False),
    sa.Column("service", sa.Text, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("scheduled_at", TIMESTAMPTZ, nullable=True),
    sa.Column("occurred_at", TIMESTAMPTZ, nullable=True),
    sa.Column("provider_org_id", sa.Uuid, sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("goal_id", sa.Uuid, sa.ForeignKey("goals.id", ondelete="SET NULL"), nullable=True),
    sa.Column("notes_enc", sa.LargeBinary, nullable=True),
    sa.Column("codes", pg.JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    sa.Column("recorded_by_org_id", sa.Uuid, nullable=False),
    sa.Column("created_at", TIMESTAMPTZ, nullable=False, server_default=_now()),
    sa.Column("updated_at", TIMESTAMPTZ, nullable=False, server_default=_now()),
    sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("1")),
    sa.CheckConstraint(_in("category", CARE_PLAN_CATEGORIES), name="category"),
    sa.CheckConstraint(_in("type", SERVICE_TYPES), name="type"),
    sa.CheckConstraint(_in("status", SERVICE_STATUSES), name="status"),
)
sa.Index(
    "ix_service_records_case_id_created_at_id",
    service_records.c.case_id,
    service_records.c.created_at,
    service_records.c.id,
)
# The care plan's upcoming services of a case, and a provider's own scheduled services.
sa.Index(
    "ix_service_records_case_scheduled",
    service_records.c.case_id,
    service_records.c.scheduled_at,
    service_records.c.id,
    postgresql_where=service_records.c.status == "scheduled",
)
sa.Index(
    "ix_service_records_provider_scheduled",
    service_records.c.provider_org_id,
    service_records.c.scheduled_at,
    service_records.c.id,
    postgresql_where=service_records.c.status == "scheduled",
)
sa.Index("ix_service_records_goal_id", service_records.c.goal_id)
