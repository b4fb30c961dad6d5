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
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from uuid import UUID

import strawberry
from strawberry.scalars import JSON

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
    DocumentStatus,
    DocumentType,
    ExitReason,
    ExploitationType,
    Gender,
    GoalStatus,
    Granter,
    OrganizationKind,
    OutcomeCode,
    PlacementSetting,
    ProsecutionStatus,
    ProtectiveMeasure,
    ReasonCode,
    ReferralDirection,
    ReferralStatus,
    ReliefStatus,
    RiskLevel,
    ServiceKind,
    ServiceStatus,
    TestimonyStatus,
    UpdateKind,
    Urgency,
)
from app.api.graphql.types.organization import Organization
from app.domain.cases import CaseView, LoadedCase
from app.domain.consents import Consent as ConsentData
from app.domain.legal import LegalRecord as LegalRecordData
from app.domain.legal import TestimonyStatusRow
from app.domain.placements import Placement as PlacementData
from app.domain.referral_rules import Party
from app.domain.referrals import ReferralView
from app.domain.updates import TimelineUpdate
from app.domain.vocabulary import AgeBand

T = TypeVar("T")
N = TypeVar("N")


# -- the survivor ------------------------------------------------------------------------------
@strawberry.type(description="How to reach someone (identity)")
class Contact:
    phone: str | None
    email: str | None
    address: str | None

    @classmethod
    def of(cls, contact: dict[str, Any] | None) -> Contact | None:
        if not contact:
            return None
        return cls(
            phone=contact.get("phone"), email=contact.get("email"), address=contact.get("address")
        )


@strawberry.type(
    description="The survivor as far as you may see: `gender`, `nationality`, `languages` and "
    "`interpreterNeeded` need `demographics`; names, birth date and contact need `identity`. "
    "A field you may not see is null."
)
class Survivor:
    gender: Gender | None = None
    nationality: str | None = None
    languages: list[str] | None = None
    interpreter_needed: bool | None = None
    given_name: str | None = None
    family_name: str | None = None
    aliases: list[str] | None = None
    date_of_birth: date | None = None
    estimated_birth_year: int | None = None
    contact: Contact | None = None


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
            contact=Contact.of(guardian.get("contact")),
        )


@strawberry.type(description="How the survivor was exploited and identified (exploitation)")
class Exploitation:
    types: list[ExploitationType]
    identified_on: date | None
    country: str | None


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
        d, i = self.view.demographics, self.view.identity
        if d is None and i is None:
            return None
        survivor = Survivor()
        if d is not None:
            survivor.gender = Gender(d["gender"]) if d["gender"] is not None else None
            survivor.nationality = d["nationality"]
            survivor.languages = d["languages"]
            survivor.interpreter_needed = d["interpreter_needed"]
        if i is not None:
            survivor.given_name = i.given_name
            survivor.family_name = i.family_name
            survivor.aliases = i.aliases
            survivor.date_of_birth = i.date_of_birth
            survivor.estimated_birth_year = i.estimated_birth_year
            survivor.contact = Contact.of(i.contact)
        return survivor

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
            exploitation=Exploitation(
                types=[ExploitationType(t) for t in e["types"]],
                identified_on=e["identified_on"],
                country=e["country"],
            )
            if e is not None
            else None,
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
        return LegalRecord.of(self.id, record) if record is not None else None

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
        return cls(
            id=update.id,
            case_id=update.case_id,
            author_org_id=update.author_org_id,
            kind=UpdateKind(update.kind),
            category=Category(update.category),
            occurred_at=update.occurred_at,
            summary=update.summary,
            details=JSON(update.details) if update.details is not None else None,
            supersedes=update.supersedes,
            created_at=update.created_at,
        )


@strawberry.type(description="A survivor's (or guardian's) consent to share categories")
class Consent:
    id: UUID
    case_id: UUID
    status: ConsentStatus
    granted_by: list[Granter]
    recipient_org_id: UUID | None
    recipient_kinds: list[OrganizationKind]
    categories: list[Category]
    purpose: str
    obtained_at: datetime
    expires_at: datetime | None
    evidence_ref: str | None
    revoked_at: datetime | None
    revoke_reason: str | None
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, consent: ConsentData) -> Consent:
        return cls(
            id=consent.id,
            case_id=consent.case_id,
            status=ConsentStatus(consent.status(datetime.now(UTC))),
            granted_by=[Granter(g) for g in consent.granted_by],
            recipient_org_id=consent.recipient_org_id,
            recipient_kinds=[OrganizationKind(k) for k in consent.recipient_kinds],
            categories=[Category(c) for c in consent.categories],
            purpose=consent.purpose,
            obtained_at=consent.obtained_at,
            expires_at=consent.expires_at,
            evidence_ref=consent.evidence_ref,
            revoked_at=consent.revoked_at,
            revoke_reason=consent.revoke_reason,
            created_at=consent.created_at,
            updated_at=consent.updated_at,
            version=consent.version,
        )


@strawberry.type(description="An identity document and where it is")
class IdentityDocument:
    type: DocumentType
    status: DocumentStatus


@strawberry.type(description="A case's legal record (category `legal`), as REST's GET …/legal")
class LegalRecord:
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
    def of(cls, case_id: UUID, record: LegalRecordData) -> LegalRecord:
        relief = record.immigration_relief_status
        return cls(
            case_id=case_id,
            documents=[
                IdentityDocument(type=DocumentType(d["type"]), status=DocumentStatus(d["status"]))
                for d in record.documents
            ],
            testimony_status=TestimonyStatus(record.testimony_status),
            protective_measures=[ProtectiveMeasure(m) for m in record.protective_measures],
            next_session_at=record.next_session_at,
            prosecution_status=ProsecutionStatus(record.prosecution_status),
            next_hearing_at=record.next_hearing_at,
            immigration_relief_type=record.immigration_relief_type,
            immigration_relief_status=ReliefStatus(relief) if relief else None,
            updated_at=record.updated_at,
            version=record.version,
        )


@strawberry.type(description="Where one case's testimony preparation stands (legal)")
class CaseTestimony:
    case_id: UUID
    reference: str
    testimony_status: TestimonyStatus
    protective_measures: list[ProtectiveMeasure]
    next_session_at: datetime | None
    next_hearing_at: datetime | None
    last_change: datetime

    @classmethod
    def of(cls, row: TestimonyStatusRow) -> CaseTestimony:
        return cls(
            case_id=row.case_id,
            reference=row.reference,
            testimony_status=TestimonyStatus(row.testimony_status),
            protective_measures=[ProtectiveMeasure(m) for m in row.protective_measures],
            next_session_at=row.next_session_at,
            next_hearing_at=row.next_hearing_at,
            last_change=row.last_change,
        )


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
        exit_reason = placement.exit_reason
        return cls(
            id=placement.id,
            case_id=placement.case_id,
            org_id=placement.org_id,
            placed_by_org_id=placement.placed_by_org_id,
            setting=PlacementSetting(placement.setting),
            home_review_id=placement.home_review_id,
            started_at=placement.started_at,
            ended_at=placement.ended_at,
            exit_reason=ExitReason(exit_reason) if exit_reason else None,
            authorization_ref=placement.authorization_ref,
            last_visit_at=placement.last_visit_at,
            created_at=placement.created_at,
            updated_at=placement.updated_at,
            version=placement.version,
        )


# -- referrals ---------------------------------------------------------------------------------
@strawberry.type(
    description="What a receiver decides a pending referral on: de-identified, never names, "
    "dates of birth, contact or location"
)
class ReferralPreview:
    age_band: str = strawberry.field(description="0-11, 12-14, 15-17, 18-24, 25-34, 35-49 or 50+")
    gender: Gender
    languages: list[str]
    interpreter_needed: bool
    needs: list[ServiceKind]
    urgency: Urgency
    is_minor: bool
    exploitation_types: list[ExploitationType]

    @classmethod
    def of(cls, preview: dict[str, Any] | None) -> ReferralPreview | None:
        if preview is None:
            return None
        return cls(
            age_band=str(AgeBand(preview["age_band"])),
            gender=Gender(preview["gender"]),
            languages=preview["languages"],
            interpreter_needed=preview["interpreter_needed"],
            needs=[ServiceKind(n) for n in preview["needs"]],
            urgency=Urgency(preview["urgency"]),
            is_minor=preview["is_minor"],
            exploitation_types=[ExploitationType(t) for t in preview["exploitation_types"]],
        )


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
    reason_code: ReasonCode | None = strawberry.field(
        description="Why it was declined or failed (null otherwise)"
    )
    outcome_code: OutcomeCode | None = strawberry.field(
        description="How a completed referral ended"
    )
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
        row = view.row
        return cls(
            id=row.id,
            case_id=row.case_id,
            case_reference=view.case_reference,
            from_org_id=row.from_org_id,
            to_org_id=row.to_org_id,
            direction=ReferralDirection.OUTGOING
            if view.party is Party.SENDER
            else ReferralDirection.INCOMING,
            service=ServiceKind(row.service),
            urgency=Urgency(row.urgency),
            reason=view.reason,
            shared_categories=[Category(c) for c in row.shared_categories],
            respond_by=row.respond_by,
            transfer_lead=row.transfer_lead,
            status=ReferralStatus(row.status),
            status_reason=view.status_reason,
            outcome=view.outcome,
            reason_code=ReasonCode(row.reason_code) if row.reason_code else None,
            outcome_code=OutcomeCode(row.outcome_code) if row.outcome_code else None,
            responded_at=row.responded_at,
            started_at=row.started_at,
            ended_at=row.ended_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            version=row.version,
            preview=ReferralPreview.of(view.preview),
        )

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
