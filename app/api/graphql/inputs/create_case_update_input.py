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
    details: JSON | None = None
    supersedes: UUID | None = strawberry.field(
        default=None, description="The update this one corrects"
    )
