from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import strawberry

from app.api.graphql.context import Info
from app.api.graphql.field_extensions import RequireScopes
from app.api.graphql.types.enums import (
    Category,
    ReferralDirection,
    ReferralStatus,
    ServiceKind,
    Urgency,
)
from app.api.graphql.types.organization import Organization
from app.api.graphql.types.referral_preview import ReferralPreview
from app.api.schemas.referrals import ReferralOut
from app.domain.referrals import ReferralView

if TYPE_CHECKING:
    from app.api.graphql.types.case import Case


@strawberry.type(
    description="A referral you sent or received. While it is pending, the receiver sees "
    "`preview` (de-identified) and not the case: `case` stays null for it until it accepts."
)
class Referral:
    id: UUID
    case_id: UUID
    case_reference: str | None = strawberry.field(
        description="For the sender, and for the receiver once accepted"
    )
    from_org_id: UUID
    to_org_id: UUID
    direction: ReferralDirection
    service: ServiceKind
    urgency: Urgency
    reason: str
    shared_categories: list[Category]
    respond_by: datetime | None
    transfer_lead: bool
    status: ReferralStatus
    status_reason: str | None
    outcome: str | None
    responded_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int
    preview: ReferralPreview | None = strawberry.field(
        description="Only for the receiver, while the referral is pending"
    )

    @classmethod
    def of(cls, view: ReferralView) -> Referral:
        out = ReferralOut.of(view)  # the projection REST answers with: parity by construction
        return cls(
            id=out.id,
            case_id=out.case_id,
            case_reference=out.case_reference,
            from_org_id=out.from_org_id,
            to_org_id=out.to_org_id,
            direction=ReferralDirection(out.direction),
            service=out.service,
            urgency=out.urgency,
            reason=out.reason,
            shared_categories=list(out.shared_categories),
            respond_by=out.respond_by,
            transfer_lead=out.transfer_lead,
            status=out.status,
            status_reason=out.status_reason,
            outcome=out.outcome,
            responded_at=out.responded_at,
            started_at=out.started_at,
            ended_at=out.ended_at,
            created_at=out.created_at,
            updated_at=out.updated_at,
            version=out.version,
            preview=ReferralPreview.of(out.preview),
        )

    @strawberry.field(
        description="The case, when you may see it (null otherwise, e.g. for the receiver of a "
        "pending referral).",
        extensions=[RequireScopes("cases:read")],
    )
    async def case(
        self, info: Info
    ) -> Annotated[Case, strawberry.lazy("app.api.graphql.types.case")] | None:
        from app.api.graphql.types.case import Case

        view = await info.context.loaders.case_by_id.load(self.case_id)
        return Case.of(view) if view is not None else None

    @strawberry.field(description="The sender.")
    async def from_organization(self, info: Info) -> Organization | None:
        org = await info.context.loaders.organization_by_id.load(self.from_org_id)
        return Organization.of(org) if org else None

    @strawberry.field(description="The receiver.")
    async def to_organization(self, info: Info) -> Organization | None:
        org = await info.context.loaders.organization_by_id.load(self.to_org_id)
        return Organization.of(org) if org else None
