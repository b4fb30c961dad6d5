from __future__ import annotations

from datetime import datetime
from uuid import UUID

import strawberry

from app.api.graphql.types.capacity import Capacity
from app.api.graphql.types.enums import OrganizationKind, ServiceKind
from app.api.graphql.types.populations import Populations
from app.api.schemas.organizations import OrganizationOut
from app.domain.organizations import Organization as OrganizationRecord


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
        out = OrganizationOut.of(org)  # the same projection REST answers with
        return cls(
            id=out.id,
            name=out.name,
            kind=out.kind,
            country=out.country,
            services=list(out.services),
            languages=list(out.languages),
            regions=list(out.regions),
            populations=Populations.of(out.populations),
            capacity=[Capacity.of(c) for c in out.capacity],
            created_at=out.created_at,
            updated_at=out.updated_at,
            version=out.version,
        )
