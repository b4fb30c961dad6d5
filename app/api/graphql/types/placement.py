from __future__ import annotations

from datetime import datetime
from uuid import UUID

import strawberry

from app.api.graphql.types.enums import ExitReason, PlacementSetting
from app.api.schemas.placements import PlacementOut
from app.domain.placements import Placement as PlacementData


@strawberry.type(description="A placement (category `placement`), as REST's placements list")
class Placement:
    id: UUID
    case_id: UUID
    org_id: UUID
    placed_by_org_id: UUID
    setting: PlacementSetting
    home_review_id: UUID | None
    started_at: datetime
    ended_at: datetime | None
    exit_reason: ExitReason | None
    authorization_ref: str | None
    last_visit_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, placement: PlacementData) -> Placement:
        out = PlacementOut.of(placement)
        return cls(**out.model_dump())
