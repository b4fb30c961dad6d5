"""A partner in the directory, with its capacity and the populations it serves."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import strawberry

from app.api.graphql.types.enums import Gender, OrganizationKind, ServiceKind
from app.domain.organizations import Organization as OrganizationRecord


@strawberry.type(description="Whom a partner serves")
class Populations:
    accepts_minors: bool
    accepts_adults: bool
    genders: list[Gender] = strawberry.field(description="Genders served; empty means all")


@strawberry.type(description="Free and total places for one service")
class Capacity:
    service: ServiceKind
    available: int
    maximum: int
    updated_at: datetime


@strawberry.type(description="A partner in the directory (public to every partner)")
class Organization:
    id: UUID
    name: str
    kind: OrganizationKind
    country: str | None
    services: list[ServiceKind]
    languages: list[str]
    regions: list[str]
    populations: Populations
    capacity: list[Capacity]
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, org: OrganizationRecord) -> Organization:
        return cls(
            id=org.id,
            name=org.name,
            kind=OrganizationKind(org.kind),
            country=org.country,
            services=[ServiceKind(s) for s in org.services],
            languages=org.languages,
            regions=org.regions,
            populations=Populations(
                accepts_minors=org.accepts_minors,
                accepts_adults=org.accepts_adults,
                genders=[Gender(g) for g in org.genders],
            ),
            capacity=[
                Capacity(
                    service=ServiceKind(c.service),
                    available=c.available,
                    maximum=c.maximum,
                    updated_at=c.updated_at,
                )
                for c in org.capacity
            ],
            created_at=org.created_at,
            updated_at=org.updated_at,
            version=org.version,
        )
