from __future__ import annotations

from datetime import datetime
from uuid import UUID

import strawberry

from app.api.graphql.types.enums import Category, ServiceKind, Urgency


@strawberry.input(description="A referral: the same fields and rules as `POST /v1/referrals`")
class CreateReferralInput:
    case_id: UUID
    to_org_id: UUID
    service: ServiceKind
    urgency: Urgency
    reason: str
    shared_categories: list[Category] | None = strawberry.field(
        default=None,
        description="Default [demographics]. Every category but demographics needs an active "
        "consent for the recipient",
    )
    respond_by: datetime | None = None
    transfer_lead: bool | None = strawberry.field(default=None, description="Default false")
