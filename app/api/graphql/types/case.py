from __future__ import annotations

from datetime import datetime
from uuid import UUID

import strawberry

from app.api.graphql.context import Info
from app.api.graphql.field_extensions import RequireScopes
from app.api.graphql.loaders import CasePageKey
from app.api.graphql.pagination import (
    DEFAULT_FIRST,
    connection,
    consent_cursor,
    page_size,
    placement_cursor,
    referral_cursor,
    update_cursor,
)
from app.api.graphql.types.case_update import CaseUpdate
from app.api.graphql.types.connection import Connection
from app.api.graphql.types.consent import Consent
from app.api.graphql.types.enums import (
    CaseRole,
    CaseStatus,
    Category,
    ReferralStatus,
    RiskLevel,
    ServiceKind,
)
from app.api.graphql.types.exploitation import Exploitation
from app.api.graphql.types.guardian import Guardian
from app.api.graphql.types.legal_record import LegalRecord
from app.api.graphql.types.organization import Organization
from app.api.graphql.types.placement import Placement
from app.api.graphql.types.referral import Referral
from app.api.graphql.types.survivor import Survivor
from app.api.schemas.cases import CaseOut
from app.domain.cases import CaseView


@strawberry.type(
    description="A case as far as you may see it. Each category's fields are null unless you "
    "are entitled to the category (`visibleCategories` lists those you got): the lead sees all; "
    "a care-team member `demographics` plus the referral's shared categories that an active "
    "consent covers; token scopes narrow both. A case you may not see does not exist for you."
)
class Case:
    id: UUID
    reference: str = strawberry.field(description="Short human-readable code")
    lead_org_id: UUID
    status: CaseStatus
    role: CaseRole = strawberry.field(description="Your relationship to the case")
    visible_categories: list[Category]
    created_at: datetime
    updated_at: datetime
    version: int
    closed_at: datetime | None
    external_ref: str | None = strawberry.field(description="The lead's own id (lead only)")
    is_minor: bool | None = strawberry.field(description="demographics")
    age_band: str | None = strawberry.field(description="demographics: 0-11 … 50+")
    survivor: Survivor | None = strawberry.field(description="demographics and identity")
    guardian: Guardian | None = strawberry.field(description="identity")
    identity_erased: bool | None = strawberry.field(description="identity")
    exploitation: Exploitation | None = strawberry.field(description="exploitation")
    needs: list[ServiceKind] | None = strawberry.field(description="general")
    risk_level: RiskLevel | None = strawberry.field(description="general")
    close_reason: str | None = strawberry.field(description="general")

    @classmethod
    def of(cls, view: CaseView) -> Case:
        out = CaseOut.of(view)  # the projection REST answers with: parity by construction
        return cls(
            id=out.id,
            reference=out.reference,
            lead_org_id=out.lead_org_id,
            status=out.status,
            role=CaseRole(out.role),
            visible_categories=list(out.visible_categories),
            created_at=out.created_at,
            updated_at=out.updated_at,
            version=out.version,
            closed_at=out.closed_at,
            external_ref=out.external_ref,
            is_minor=out.is_minor,
            age_band=str(out.age_band) if out.age_band else None,
            survivor=Survivor.of(out.survivor),
            guardian=Guardian.of(out.guardian),
            identity_erased=out.identity_erased,
            exploitation=Exploitation.of(out.exploitation),
            needs=list(out.needs) if out.needs is not None else None,
            risk_level=out.risk_level,
            close_reason=out.close_reason,
        )

    @strawberry.field(description="The lead organisation.")
    async def lead_organization(self, info: Info) -> Organization | None:
        org = await info.context.loaders.organization_by_id.load(self.lead_org_id)
        return Organization.of(org) if org else None

    @strawberry.field(
        description="Referrals of this case that you sent or received, oldest first.",
        extensions=[RequireScopes("referrals:read")],
    )
    async def referrals(
        self,
        info: Info,
        first: int = DEFAULT_FIRST,
        after: str | None = None,
        status: ReferralStatus | None = None,
    ) -> Connection[Referral] | None:
        key = CasePageKey(self.id, page_size(first), after, str(status) if status else None)
        page = await info.context.loaders.referrals_by_case.load(key)
        return connection(page, Referral.of, referral_cursor, after=after)

    @strawberry.field(
        description="The timeline: updates in categories you may see (and those you wrote), "
        "oldest first.",
        extensions=[RequireScopes("cases:read")],
    )
    async def updates(
        self,
        info: Info,
        first: int = DEFAULT_FIRST,
        after: str | None = None,
        category: Category | None = None,
    ) -> Connection[CaseUpdate] | None:
        key = CasePageKey(self.id, page_size(first), after, str(category) if category else None)
        page = await info.context.loaders.updates_by_case.load(key)
        return connection(page, CaseUpdate.of, update_cursor, after=after)

    @strawberry.field(
        description="Consents of this case: the lead sees all, others those addressed to them.",
        extensions=[RequireScopes("cases:read")],
    )
    async def consents(
        self, info: Info, first: int = DEFAULT_FIRST, after: str | None = None
    ) -> Connection[Consent] | None:
        key = CasePageKey(self.id, page_size(first), after)
        page = await info.context.loaders.consents_by_case.load(key)
        return connection(page, Consent.of, consent_cursor, after=after)

    @strawberry.field(
        description="The legal record (null unless you may see `legal`; as GET …/legal).",
        extensions=[RequireScopes("legal:read")],
    )
    async def legal(self, info: Info) -> LegalRecord | None:
        record = await info.context.loaders.legal_by_case.load(self.id)
        return LegalRecord.of(self.id, record) if record is not None else None

    @strawberry.field(
        description="Placements, oldest first (null unless you may see `placement`).",
        extensions=[RequireScopes("placements:read")],
    )
    async def placements(
        self, info: Info, first: int = DEFAULT_FIRST, after: str | None = None
    ) -> Connection[Placement] | None:
        if "placement" not in [str(c) for c in self.visible_categories]:
            return None  # as REST's 404 for the placements of a case you may not see there
        key = CasePageKey(self.id, page_size(first), after)
        page = await info.context.loaders.placements_by_case.load(key)
        return connection(page, Placement.of, placement_cursor, after=after)
