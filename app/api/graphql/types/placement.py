from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import strawberry

from app.api.graphql.types.enums import ExitReason, PlacementSetting
from app.api.schemas.journey import PlacementOut


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
    def of(cls, row: Any) -> Placement:
        out = PlacementOut.of(row)
        return cls(**out.model_dump())
