from __future__ import annotations

from datetime import datetime
from uuid import UUID

import strawberry
from strawberry.scalars import JSON

from app.api.graphql.types.enums import Category, UpdateKind


@strawberry.input(
    description="A timeline update: the same fields and rules as `POST /v1/cases/{id}/updates`"
)
class CreateCaseUpdateInput:
    kind: UpdateKind
    category: Category
    occurred_at: datetime
    summary: str
    details: JSON | None = strawberry.field(
        default=None,
        description="A JSON object, at most `AFTERCARE_MAX_DETAILS_BYTES` (16 KiB by default) "
        "as compact JSON",
    )
    supersedes: UUID | None = strawberry.field(
        default=None, description="The update this one corrects"
    )
