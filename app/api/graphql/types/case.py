"""A case and everything seen through it: the survivor (contact, guardian, exploitation), its
timeline, consents, legal record, placements, goals, service records and referrals (with their
de-identified preview).

Each type is built straight from the domain's view (``X.of``), with the same values REST
answers with. A ``Case`` carries the case as it was loaded for the caller (``loaded``: the row
and the caller's ``CaseAccess``); the lists under it hand that to the domain through the
loaders, so the case is not loaded and checked again for each list.

That is safe because a ``Case`` never outlives what it was checked against: within a query the
whole request reads one snapshot, and after a mutation (``field_extensions.Atomic``) the loaders
forget everything, so a case reached through a referral (``Referral.case``) is loaded and
checked afresh, while a case a mutation returns was made by that mutation from what it just
wrote.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

import strawberry

from app.api.graphql.connections import (
    DEFAULT_FIRST,
    Connection,
    connection,
    consent_cursor,
    goal_cursor,
    page_size,
    placement_cursor,
    referral_cursor,
    service_cursor,
    update_cursor,
)
from app.api.graphql.context import Info
from app.api.graphql.field_extensions import RequireScopes
from app.api.graphql.loaders import CasePageKey, CasePagesLoader, care_filter
from app.api.graphql.types.care_plan import Goal, ServiceRecord
from app.api.graphql.types.enums import (
    CarePlanCategory,
    CaseRole,
    CaseStatus,
    Category,
    ConsentStatus,
    GoalStatus,
    ProsecutionStatus,
    ProtectiveMeasure,
    ReferralDirection,
    ReferralStatus,
    ReliefStatus,
    RiskLevel,
    ServiceKind,
    ServiceStatus,
    TestimonyStatus,
)
from app.api.graphql.types.organization import Organization
from app.api.graphql.types.projection import Projected, from_model
from app.api.schemas.cases import (
    ConsentOut,
    ContactOut,
    ExploitationOut,
    SurvivorOut,
    UpdateOut,
)
from app.api.schemas.common import ViewWith
from app.api.schemas.legal import DocumentOut, TestimonyRow
from app.api.schemas.placements import PlacementOut
from app.api.schemas.referrals import Preview, ReferralOut
from app.domain.cases import CaseView, LoadedCase
from app.domain.consents import Consent as ConsentData
from app.domain.legal import LegalRecord as LegalRecordData
from app.domain.referrals import ReferralView
from app.domain.vocabulary import AgeBand

T = TypeVar("T")
N = TypeVar("N")


# -- the survivor ------------------------------------------------------------------------------
@from_model(ContactOut, description="How to reach someone (identity)")
class Contact(Projected):
    @classmethod
    def of(cls, source: dict[str, Any]) -> Contact:
        return super().of(dict.fromkeys(ContactOut.model_fields) | source)  # absent: null


@from_model(
    SurvivorOut,
    description="The survivor as far as you may see: `gender`, `nationality`, `languages` and "
    "`interpreterNeeded` need `demographics`; names, birth date and contact need `identity`. "
    "A field you may not see is null.",
)
class Survivor(Projected):
    @classmethod
    def of(cls, source: dict[str, Any]) -> Survivor:
        return super().of(dict.fromkeys(SurvivorOut.model_fields) | source)  # not seen: null


@strawberry.type(description="A minor's guardian (identity)")
class Guardian:
    name: str | None
    relationship: str | None
    contact: Contact | None

    @classmethod
    def of(cls, guardian: dict[str, Any] | None) -> Guardian | None:
        if not guardian:
            return None
        return cls(
            name=guardian.get("name"),
            relationship=guardian.get("relationship"),
            contact=Contact.of(c) if (c := guardian.get("contact")) else None,
        )


@from_model(
    ExploitationOut, description="How the survivor was exploited and identified (exploitation)"
)
class Exploitation(Projected):
    pass


# -- the case ----------------------------------------------------------------------------------
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
    identity_erased: bool | None = strawberry.field(description="identity")
    exploitation: Exploitation | None = strawberry.field(description="exploitation")
    needs: list[ServiceKind] | None = strawberry.field(description="general")
    risk_level: RiskLevel | None = strawberry.field(description="general")
    close_reason: str | None = strawberry.field(description="general")
    # The case as loaded for the caller (row and access): what the lists below are read for.
    loaded: strawberry.Private[LoadedCase]
    # The view it was built from: identity is decrypted only when `survivor` or `guardian`
    # asks for it (a page of cases for their referrals opens no name).
    view: strawberry.Private[CaseView]

    @strawberry.field(description="demographics and identity")
    def survivor(self) -> Survivor | None:
        survivor = SurvivorOut.source(self.view)
        return Survivor.of(survivor) if survivor else None

    @strawberry.field(description="identity")
    def guardian(self) -> Guardian | None:
        i = self.view.identity
        return Guardian.of(i.guardian) if i is not None else None

    @classmethod
    def of(cls, view: CaseView) -> Case:
        access = view.access
        d, e, g = view.demographics, view.exploitation, view.general
        sees_identity = access.sees(Category.IDENTITY)
        risk = g["risk_level"] if g is not None else None
        return cls(
            id=view.id,
            reference=view.reference,
            lead_org_id=view.lead_org_id,
            status=CaseStatus(view.status),
            role=CaseRole(access.role),
            visible_categories=access.sorted_visible(),
            created_at=view.created_at,
            updated_at=view.updated_at,
            version=view.version,
            closed_at=view.closed_at,
            external_ref=view.external_ref,
            is_minor=d["is_minor"] if d is not None else None,
            age_band=str(AgeBand(d["age_band"])) if d is not None else None,
            identity_erased=view.identity_erased if sees_identity else None,
            exploitation=Exploitation.of(e) if e is not None else None,
            needs=[ServiceKind(n) for n in g["needs"]] if g is not None else None,
            risk_level=RiskLevel(risk) if risk else None,
            close_reason=g["close_reason"] if g is not None else None,
            loaded=view.loaded,
            view=view,
        )

    @strawberry.field(description="The lead organisation.")
    async def lead_organization(self, info: Info) -> Organization | None:
        org = await info.context.loaders.organization_by_id.load(self.lead_org_id)
        return Organization.of(org) if org else None

    async def _page(
        self,
        loader: CasePagesLoader[T],
        first: int,
        after: str | None,
        filter_: str | None,
        node: Callable[[T], N],
        cursor: Callable[[T], str],
    ) -> Connection[N]:
        """A page of a list under this case, through the request's loader for that list."""
        key = CasePageKey.of(
            self.loaded, page_size(first), after, str(filter_) if filter_ else None
        )
        return connection(await loader.load(key), node, cursor, after=after)

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
        loader = info.context.loaders.referrals_by_case
        return await self._page(loader, first, after, status, Referral.of, referral_cursor)

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
        loader = info.context.loaders.updates_by_case
        return await self._page(loader, first, after, category, CaseUpdate.of, update_cursor)

    @strawberry.field(
        description="Consents of this case: the lead sees all, others those addressed to them.",
        extensions=[RequireScopes("cases:read")],
    )
    async def consents(
        self, info: Info, first: int = DEFAULT_FIRST, after: str | None = None
    ) -> Connection[Consent] | None:
        loader = info.context.loaders.consents_by_case
        return await self._page(loader, first, after, None, Consent.of, consent_cursor)

    @strawberry.field(
        description="The legal record (null unless you may see `legal`; as GET …/legal).",
        extensions=[RequireScopes("legal:read")],
    )
    async def legal(self, info: Info) -> LegalRecord | None:
        record = await info.context.loaders.legal_by_case.load(CasePageKey.of(self.loaded))
        return LegalRecord.of_record(self.id, record) if record is not None else None

    @strawberry.field(
        description="Placements, oldest first (null unless you may see `placement`).",
        extensions=[RequireScopes("placements:read")],
    )
    async def placements(
        self, info: Info, first: int = DEFAULT_FIRST, after: str | None = None
    ) -> Connection[Placement] | None:
        if not self.loaded.access.sees(Category.PLACEMENT):
            return None  # as REST's 404 for the placements of a case you may not see there
        loader = info.context.loaders.placements_by_case
        return await self._page(loader, first, after, None, Placement.of, placement_cursor)

    @strawberry.field(
        description="Goals in the categories you may see, oldest first (as GET …/goals).",
        extensions=[RequireScopes("cases:read")],
    )
    async def goals(
        self,
        info: Info,
        first: int = DEFAULT_FIRST,
        after: str | None = None,
        category: CarePlanCategory | None = None,
        status: GoalStatus | None = None,
    ) -> Connection[Goal] | None:
        filter_ = care_filter(category, str(status) if status else None)
        key = CasePageKey.of(self.loaded, page_size(first), after, filter_)
        page = await info.context.loaders.goals_by_case.load(key)
        return connection(page, Goal.of, goal_cursor, after=after)

    @strawberry.field(
        description="Service records in the categories you may see, oldest first (as GET "
        "…/services).",
        extensions=[RequireScopes("cases:read")],
    )
    async def services(
        self,
        info: Info,
        first: int = DEFAULT_FIRST,
        after: str | None = None,
        category: CarePlanCategory | None = None,
        status: ServiceStatus | None = None,
    ) -> Connection[ServiceRecord] | None:
        filter_ = care_filter(category, str(status) if status else None)
        key = CasePageKey.of(self.loaded, page_size(first), after, filter_)
        page = await info.context.loaders.services_by_case.load(key)
        return connection(page, ServiceRecord.of, service_cursor, after=after)


# -- what is listed under a case -----------------------------------------------------------------
@from_model(
    UpdateOut,
    description="An immutable entry of a case's timeline",
    descriptions={
        "details": "Free-form JSON, at most `AFTERCARE_MAX_DETAILS_BYTES` (16 KiB by default)",
        "supersedes": "The update this one corrects",
    },
)
class CaseUpdate(Projected):
    pass


@from_model(ConsentOut, description="A survivor's (or guardian's) consent to share categories")
class Consent(Projected):
    status: ConsentStatus

    @classmethod
    def of(cls, source: ConsentData) -> Consent:
        return super().of(ViewWith(source, status=source.status(datetime.now(UTC))))


@from_model(DocumentOut, description="An identity document and where it is")
class IdentityDocument(Projected):
    pass


@strawberry.type(description="A case's legal record (category `legal`), as REST's GET …/legal")
class LegalRecord(Projected):
    case_id: UUID
    documents: list[IdentityDocument]
    testimony_status: TestimonyStatus
    protective_measures: list[ProtectiveMeasure]
    next_session_at: datetime | None
    prosecution_status: ProsecutionStatus
    next_hearing_at: datetime | None
    immigration_relief_type: str | None
    immigration_relief_status: ReliefStatus | None
    updated_at: datetime | None
    version: int = strawberry.field(description="0 until the record is first written")

    @classmethod
    def of_record(cls, case_id: UUID, record: LegalRecordData) -> LegalRecord:
        return cls.of(ViewWith(record, case_id=case_id))


@from_model(TestimonyRow, description="Where one case's testimony preparation stands (legal)")
class CaseTestimony(Projected):
    pass


@from_model(
    PlacementOut, description="A placement (category `placement`), as REST's placements list"
)
class Placement(Projected):
    pass


# -- referrals ---------------------------------------------------------------------------------
@from_model(
    Preview,
    description="What a receiver decides a pending referral on: de-identified, never names, "
    "dates of birth, contact or location",
)
class ReferralPreview(Projected):
    age_band: str = strawberry.field(description="0-11, 12-14, 15-17, 18-24, 25-34, 35-49 or 50+")


@from_model(
    ReferralOut,
    description="A referral you sent or received. While it is pending, the receiver sees "
    "`preview` (de-identified) and not the case: `case` stays null for it until it accepts.",
    descriptions={
        "case_reference": "For the sender, and for the receiver once accepted",
        "reason_code": "Why it was declined or failed (null otherwise)",
    },
)
class Referral(Projected):
    case_id: UUID
    from_org_id: UUID
    to_org_id: UUID
    direction: ReferralDirection

    @classmethod
    def of(cls, source: ReferralView) -> Referral:
        return super().of(ReferralOut.source(source))

    @strawberry.field(
        description="The case, when you may see it (null otherwise, e.g. for the receiver of a "
        "pending referral).",
        extensions=[RequireScopes("cases:read")],
    )
    async def case(self, info: Info) -> Case | None:
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
