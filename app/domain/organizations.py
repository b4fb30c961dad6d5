"""The directory: organisations, their profile and per-service capacity."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from app.db.database import Session
from app.db.repositories import organizations as repo
from app.db.repositories.organizations import OrganizationRow
from app.domain.age import ADULT_AGE
from app.domain.errors import NotFound, PreconditionFailed, ValidationFailed
from app.domain.pagination import KeysetList, Page
from app.domain.vocabulary import OrganizationKind, ServiceKind

LIST_NAME = "organizations"
ORGANIZATIONS = KeysetList(LIST_NAME, ("name", "id"), (str, UUID))


@dataclass(frozen=True, slots=True)
class Capacity:
    service: str
    available: int
    maximum: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Organization:
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
    capacity: list[Capacity]
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def from_row(cls, row: OrganizationRow) -> Organization:
        return cls(
            id=row.id,
            name=row.name,
            kind=row.kind,
            country=row.country,
            services=row.services,
            languages=row.languages,
            regions=row.regions,
            accepts_minors=row.accepts_minors,
            accepts_adults=row.accepts_adults,
            genders=row.genders,
            capacity=[
                Capacity(
                    service=c["service"],
                    available=c["available"],
                    maximum=c["maximum"],
                    updated_at=datetime.fromisoformat(c["updated_at"]),
                )
                for c in row.capacity
            ],
            created_at=row.created_at,
            updated_at=row.updated_at,
            version=row.version,
        )


@dataclass(frozen=True, slots=True)
class DirectoryFilter:
    kind: OrganizationKind | None = None
    service: ServiceKind | None = None
    country: str | None = None
    accepts_minors: bool | None = None
    has_capacity: bool | None = None
    language: str | None = None  # a BCP 47 tag; matched on its primary subtag
    region: str | None = None  # ISO 3166-2
    age: int | None = None  # years: partners whose populations accept that age
    gender: str | None = None  # partners serving it (or every gender)

    def bound(self) -> dict[str, object]:
        """The filters given, as the directory statement's parameters."""
        minor = None if self.age is None else self.age < ADULT_AGE
        return {
            "kind": self.kind,
            "service": self.service,
            "country": self.country,
            "accepts_minors": self.accepts_minors,
            "language": self.language.split("-", 1)[0].lower() if self.language else None,
            "region": self.region,
            "gender": self.gender,
            "minor": True if minor else None,
            "adult": True if minor is False else None,
            "has_capacity": self.has_capacity,
        }


@dataclass(frozen=True, slots=True)
class CapacityEntry:
    service: ServiceKind
    available: int
    maximum: int


@dataclass(frozen=True, slots=True)
class ProfileChange:
    """A partial profile update; ``None`` leaves a field as it is."""

    services: list[ServiceKind] | None = None
    languages: list[str] | None = None
    regions: list[str] | None = None
    accepts_minors: bool | None = None
    accepts_adults: bool | None = None
    genders: list[str] | None = None
    capacity: list[CapacityEntry] | None = None


def check_capacity(
    services: Sequence[str], capacity: Sequence[CapacityEntry]
) -> list[dict[str, Any]]:
    """Capacity rules as a pure function: returns 422-style errors (empty when valid)."""
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, entry in enumerate(capacity):
        loc: list[str | int] = ["capacity", i]
        if entry.service in seen:
            errors.append({"loc": [*loc, "service"], "msg": "service listed twice"})
        seen.add(entry.service)
        if entry.service not in services:
            errors.append(
                {"loc": [*loc, "service"], "msg": "capacity given for a service not offered"}
            )
        if entry.available > entry.maximum:
            errors.append({"loc": [*loc, "available"], "msg": "available exceeds maximum"})
    return errors


class OrganizationService:
    def __init__(self, session: Session) -> None:
        self.session = session

    async def get(self, org_id: UUID) -> Organization:
        row = await repo.get(self.session, org_id)
        if row is None:
            raise NotFound("No such organization")
        return Organization.from_row(row)

    async def get_many(self, org_ids: Sequence[UUID]) -> dict[UUID, Organization]:
        """Several organisations in one statement; unknown ids are absent."""
        wanted = list(dict.fromkeys(org_ids))
        if not wanted:
            return {}
        rows = await repo.get_many(self.session, wanted)
        return {row.id: Organization.from_row(row) for row in rows}

    async def list(
        self, filters: DirectoryFilter, *, limit: int, cursor: str | None
    ) -> Page[Organization]:
        after = ORGANIZATIONS.position(cursor)
        rows = await repo.list_page(
            self.session,
            filters=filters.bound(),
            **ORGANIZATIONS.bind(after, "after_name", "after_id"),
            limit=limit + 1,
        )
        page = ORGANIZATIONS.page(rows, limit)
        return Page([Organization.from_row(r) for r in page.items], page.next_cursor)

    async def create(
        self,
        *,
        name: str,
        kind: OrganizationKind,
        country: str | None = None,
        services: Sequence[ServiceKind] = (),
        languages: Sequence[str] = (),
        regions: Sequence[str] = (),
        accepts_minors: bool = False,
        accepts_adults: bool = True,
        genders: Sequence[str] = (),
        capacity: Sequence[CapacityEntry] = (),
    ) -> Organization:
        errors = check_capacity(list(services), capacity)
        if errors:
            raise ValidationFailed("Invalid capacity", errors=errors)
        org_id = uuid4()
        await repo.insert(
            self.session,
            id=org_id,
            name=name,
            kind=str(kind),
            country=country,
            services=[str(s) for s in services],
            languages=list(languages),
            regions=list(regions),
            accepts_minors=accepts_minors,
            accepts_adults=accepts_adults,
            genders=list(genders),
        )
        if capacity:
            await repo.replace_capacity(
                self.session, org_id, [(str(c.service), c.available, c.maximum) for c in capacity]
            )
        return await self.get(org_id)

    async def update_profile(
        self, org_id: UUID, change: ProfileChange, *, expected_version: Collection[int] | None
    ) -> Organization:
        await self.session.begin()
        current = await self.get(org_id)
        if expected_version is not None and current.version not in expected_version:
            raise PreconditionFailed("The organization has changed; fetch it again")
        if change == ProfileChange():  # an empty patch: no write, no new version
            return current
        services = (
            [str(s) for s in change.services] if change.services is not None else current.services
        )
        if change.capacity is not None:
            errors = check_capacity(services, change.capacity)
            if errors:
                raise ValidationFailed("Invalid capacity", errors=errors)
            entries = [(str(c.service), c.available, c.maximum) for c in change.capacity]
        else:
            # Capacity for a service no longer offered is meaningless: drop it.
            entries = [
                (c.service, c.available, c.maximum)
                for c in current.capacity
                if c.service in services
            ]
        version = await repo.update_profile(
            self.session,
            id=org_id,
            expected_version=current.version,
            services=services if change.services is not None else None,
            languages=change.languages,
            regions=change.regions,
            accepts_minors=change.accepts_minors,
            accepts_adults=change.accepts_adults,
            genders=change.genders,
        )
        if version is None:
            raise PreconditionFailed("The organization has changed; fetch it again")
        if change.capacity is not None or change.services is not None:
            await repo.replace_capacity(self.session, org_id, entries)
        return await self.get(org_id)
