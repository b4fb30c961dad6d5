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

# The directory search: one statement per combination of filters present, built from the
# fragments below (constant text, every value bound) and compiled once per process. A catch-all
# statement (`$1 IS NULL OR …`) would get a generic plan that cannot use the GIN indexes; each
# variant's plan is cached and uses them (`@>` on the arrays: one index scan per filter).
_DIRECTORY_FILTERS: dict[str, str] = {
    "kind": "o.kind = {}::text",
    "service": "o.services @> ARRAY[{}::text]",
    "country": "o.country = {}::text",
    "accepts_minors": "o.accepts_minors = {}::boolean",
    "language": "language_primaries(o.languages) @> ARRAY[{}::text]",
    "region": "o.regions @> ARRAY[{}::text]",
    "gender": "(o.genders @> ARRAY[{}::text] OR o.genders = '{{}}'::text[])",
    "minor": "o.accepts_minors = {}::boolean",  # the `age` filter: minors …
    "adult": "o.accepts_adults = {}::boolean",  # … or adults
}
_CAPACITY_ANY = """EXISTS (SELECT 1 FROM organization_capacity c
                    WHERE c.org_id = o.id AND c.available > 0)"""
_CAPACITY_FOR = """EXISTS (SELECT 1 FROM organization_capacity c
                    WHERE c.org_id = o.id AND c.available > 0 AND c.service = {}::text)"""
_directory_statements: dict[tuple[str, ...], Query] = {}


def _directory_statement(present: tuple[str, ...]) -> Query:
    query = _directory_statements.get(present)
    if query is not None:
        return query
    names: list[str] = []
    where: list[str] = []

    def bind(name: str) -> str:
        names.append(name)
        return f"${len(names)}"

    for name in present:
        if name == "has_capacity":
            service = bind("service") if "service" in present else None
            exists = _CAPACITY_FOR.format(service) if service else _CAPACITY_ANY
            where.append(f"{bind('has_capacity')}::boolean = {exists}")
        else:
            where.append(_DIRECTORY_FILTERS[name].format(bind(name)))
    where.append(f"(o.name, o.id) > ({bind('after_name')}::text, {bind('after_id')}::uuid)")
    sql = (
        f"SELECT {_COLUMNS} FROM organizations o WHERE "  # noqa: S608 - constant fragments
        + "\n  AND ".join(where)
        + f"\nORDER BY o.name, o.id LIMIT {bind('limit')}"
    )
    query = Query(sql, tuple(names))
    _directory_statements[present] = query
    return query


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


_DIRECTORY_ORDER = ("kind", "service", "country", "accepts_minors", "language", "region", "gender",
                    "minor", "adult", "has_capacity")  # fmt: skip


async def list_page(
    session: Session,
    *,
    filters: dict[str, Any],
    after_name: str | None,
    after_id: UUID | None,
    limit: int,
) -> list[OrganizationRow]:
    """A directory page: ``filters`` holds only the filters given (name → value)."""
    present = _present(filters)
    params = {n: filters[n] for n in present}
    params.update(after_name=after_name or "", after_id=after_id or _NIL, limit=limit)
    query = _directory_statement(present)
    return ORGANIZATION_ROWS.many(await session.fetch(query, params))


def directory_sql(filters: dict[str, Any]) -> str:
    """The statement a directory search with these filters runs (for plans in tests, bench)."""
    return _directory_statement(_present(filters)).sql


def _present(filters: dict[str, Any]) -> tuple[str, ...]:
    return tuple(n for n in _DIRECTORY_ORDER if filters.get(n) is not None)


_NIL = UUID(int=0)


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
