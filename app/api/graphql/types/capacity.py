from __future__ import annotations

from datetime import datetime

import strawberry

from app.api.graphql.types.enums import ServiceKind
from app.api.schemas.organizations import CapacityOut


@strawberry.type(description="Free and total places for one service")
class Capacity:
    service: ServiceKind
    available: int
    maximum: int
    updated_at: datetime

    @classmethod
    def of(cls, out: CapacityOut) -> Capacity:
        return cls(
            service=out.service,
            available=out.available,
            maximum=out.maximum,
            updated_at=out.updated_at,
        )
