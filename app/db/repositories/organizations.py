"""Directory: organisations and their per-service capacity."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict
from uuid import UUID

from app.db.database import Session
from app.db.query import Query
from app.db.rows import Rows


class CapacityJson(TypedDict):
    """One element of ``OrganizationRow.capacity`` (built by the statement as JSON)."""

    service: str
    available: int
    maximum: int
    updated_at: str  # ISO 8601, as PostgreSQL writes a timestamptz into JSON


@dataclass(frozen=True, slots=True)
class OrganizationRow:
    """An organisation with its capacity entries (ordered by service)."""

    id: UUID
    name: str
    kind: str
    country: str | None
    services: list[str]
    languages: list[str]
    regions: list[str]
    accepts_minors: bool
    accepts_adults: bool
    genders: list[str]
    created_at: datetime
    updated_at: datetime
    version: int
    capacity: list[CapacityJson]


ORGANIZATION_ROWS = Rows(OrganizationRow)

_COLUMNS = """
    o.id, o.name, o.kind, o.country, o.services, o.languages, o.regions,
    o.accepts_minors, o.accepts_adults, o.genders, o.created_at, o.updated_at, o.version,
    COALESCE((
        SELECT jsonb_agg(jsonb_build_object(
                   'service', c.service, 'available', c.available,
                   'maximum', c.maximum, 'updated_at', c.updated_at) ORDER BY c.service)
        FROM organization_capacity c WHERE c.org_id = o.id
    ), '[]'::jsonb) AS capacity
"""

_GET = Query(f"SELECT {_COLUMNS} FROM organizations o WHERE o.id = $1", ("id",))  # noqa: S608

_LIST = Query(
    f"""
    SELECT {_COLUMNS} FROM organizations o
    WHERE ($1::text IS NULL OR o.kind = $1::text)
      AND ($2::text IS NULL OR $2::text = ANY (o.services))
      AND ($3::text IS NULL OR o.country = $3::text)
      AND ($4::boolean IS NULL OR o.accepts_minors = $4::boolean)
      AND ($5::boolean IS NULL OR $5::boolean = EXISTS (
              SELECT 1 FROM organization_capacity c
              WHERE c.org_id = o.id AND c.available > 0
                AND ($2::text IS NULL OR c.service = $2::text)))
      AND ($6::text IS NULL OR (o.name, o.id) > ($6::text, $7::uuid))
    ORDER BY o.name, o.id
    LIMIT $8
    """,  # noqa: S608 - constant text; every value is a bound parameter
    (
        "kind",
        "service",
        "country",
        "accepts_minors",
        "has_capacity",
        "after_name",
        "after_id",
        "limit",
    ),
)

_INSERT = Query(
    """
    INSERT INTO organizations (id, name, kind, country, services, languages, regions,
                               accepts_minors, accepts_adults, genders)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
    """,
    (
        "id",
        "name",
        "kind",
        "country",
        "services",
        "languages",
        "regions",
        "accepts_minors",
        "accepts_adults",
        "genders",
    ),
)

_UPDATE_PROFILE = Query(
    """
    UPDATE organizations SET
        services = COALESCE($3::text[], services),
        languages = COALESCE($4::text[], languages),
        regions = COALESCE($5::text[], regions),
        accepts_minors = COALESCE($6::boolean, accepts_minors),
        accepts_adults = COALESCE($7::boolean, accepts_adults),
        genders = COALESCE($8::text[], genders),
        updated_at = now(),
        version = version + 1
    WHERE id = $1 AND version = $2
    RETURNING version
    """,
    (
        "id",
        "expected_version",
        "services",
        "languages",
        "regions",
        "accepts_minors",
        "accepts_adults",
        "genders",
    ),
)

# Replace the capacity set: drop services not listed, upsert the rest; a row whose numbers did not
# change keeps its updated_at.
_DELETE_CAPACITY_EXCEPT = Query(
    "DELETE FROM organization_capacity WHERE org_id = $1 AND NOT (service = ANY ($2::text[]))",
    ("org_id", "services"),
)
_UPSERT_CAPACITY = Query(
    """
    INSERT INTO organization_capacity (org_id, service, available, maximum)
    SELECT $1, s.service, s.available, s.maximum
    FROM unnest($2::text[], $3::int[], $4::int[]) AS s(service, available, maximum)
    ON CONFLICT (org_id, service) DO UPDATE
        SET available = excluded.available, maximum = excluded.maximum, updated_at = now()
        WHERE (organization_capacity.available, organization_capacity.maximum)
              IS DISTINCT FROM (excluded.available, excluded.maximum)
    """,
    ("org_id", "services", "available", "maximum"),
)


async def get(session: Session, org_id: UUID) -> OrganizationRow | None:
    return ORGANIZATION_ROWS.one(await session.fetchrow(_GET, id=org_id))


async def list_page(session: Session, **params: Any) -> list[OrganizationRow]:
    return ORGANIZATION_ROWS.many(await session.fetch(_LIST, params))


async def insert(session: Session, **values: Any) -> None:
    await session.execute(_INSERT, values)


async def update_profile(session: Session, **values: Any) -> int | None:
    version: int | None = await session.fetchval(_UPDATE_PROFILE, values)
    return version


async def replace_capacity(
    session: Session, org_id: UUID, entries: Sequence[tuple[str, int, int]]
) -> None:
    services = [e[0] for e in entries]
    await session.execute(_DELETE_CAPACITY_EXCEPT, org_id=org_id, services=services)
    if entries:
        await session.execute(
            _UPSERT_CAPACITY,
            org_id=org_id,
            services=services,
            available=[e[1] for e in entries],
            maximum=[e[2] for e in entries],
        )


_GET_MANY = Query(
    f"SELECT {_COLUMNS} FROM organizations o WHERE o.id = ANY ($1::uuid[])",  # noqa: S608
    ("ids",),
)


async def get_many(session: Session, org_ids: list[UUID]) -> list[OrganizationRow]:
    return ORGANIZATION_ROWS.many(await session.fetch(_GET_MANY, ids=org_ids))
