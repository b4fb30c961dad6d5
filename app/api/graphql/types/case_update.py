from __future__ import annotations

from datetime import datetime
from uuid import UUID

import strawberry
from strawberry.scalars import JSON

from app.api.graphql.types.enums import Category, UpdateKind
from app.api.schemas.cases import UpdateOut
from app.domain.updates import TimelineUpdate


@strawberry.type(description="An immutable entry of a case's timeline")
class CaseUpdate:
    id: UUID
    case_id: UUID
    author_org_id: UUID
    kind: UpdateKind
    category: Category
    occurred_at: datetime
    summary: str
    details: JSON | None = strawberry.field(
        description="Free-form JSON, at most `AFTERCARE_MAX_DETAILS_BYTES` (16 KiB by default)"
    )
    supersedes: UUID | None = strawberry.field(description="The update this one corrects")
    created_at: datetime

    @classmethod
    def of(cls, update: TimelineUpdate) -> CaseUpdate:
        out = UpdateOut.of(update)
        return cls(
            id=out.id,
            case_id=out.case_id,
            author_org_id=out.author_org_id,
            kind=out.kind,
            category=out.category,
            occurred_at=out.occurred_at,
            summary=out.summary,
            details=JSON(out.details) if out.details is not None else None,
            supersedes=out.supersedes,
            created_at=out.created_at,
        )
