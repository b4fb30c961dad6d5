from __future__ import annotations

from datetime import datetime
from uuid import UUID

import strawberry

from app.api.graphql.types.enums import Category, Granter, OrganizationKind


@strawberry.input(
    description="A consent: the same fields and rules as `POST /v1/cases/{id}/consents`. Give "
    "exactly one of `recipientOrgId` and `recipientKinds`; a minor's consent includes the guardian"
)
class RecordConsentInput:
    granted_by: list[Granter]
    categories: list[Category]
    purpose: str
    obtained_at: datetime
    recipient_org_id: UUID | None = None
    recipient_kinds: list[OrganizationKind] | None = None
    expires_at: datetime | None = None
    evidence_ref: str | None = None
