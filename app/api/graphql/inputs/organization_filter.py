from __future__ import annotations

import strawberry

from app.api.graphql.types.enums import OrganizationKind, ServiceKind


@strawberry.input(description="Directory filters, as `GET /v1/organizations` takes them")
class OrganizationFilter:
    kind: OrganizationKind | None = None
    service: ServiceKind | None = None
    country: str | None = strawberry.field(default=None, description="ISO 3166-1 alpha-2")
    accepts_minors: bool | None = None
    has_capacity: bool | None = strawberry.field(
        default=None, description="true: only partners with a free place (for `service`)"
    )
