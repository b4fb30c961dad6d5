"""Case mutations and their inputs: intake, timeline updates and consents."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import strawberry
from strawberry.scalars import JSON

from app.api.graphql.context import Info
from app.api.graphql.errors import validated
from app.api.graphql.field_extensions import mutation
from app.api.graphql.idempotency import IdempotencyKey, once
from app.api.graphql.types.case import Case, CaseUpdate, Consent
from app.api.graphql.types.enums import (
    Category,
    ExploitationType,
    Gender,
    Granter,
    OrganizationKind,
    RiskLevel,
    ServiceKind,
    UpdateKind,
)
from app.api.schemas.cases import CaseCreate, ConsentCreate, RevokeIn, UpdateCreate


@strawberry.input(description="How to reach someone")
class ContactInput:
    phone: str | None = None
    email: str | None = None
    address: str | None = None


@strawberry.input(description="A minor's guardian")
class GuardianInput:
    relationship: str
    name: str | None = None
    contact: ContactInput | None = None


@strawberry.input(description="How the survivor was exploited and identified")
class ExploitationInput:
    types: list[ExploitationType] | None = None
    identified_on: date | None = None
    country: str | None = strawberry.field(default=None, description="ISO 3166-1 alpha-2")


@strawberry.input(
    description="Only `gender` and one of `dateOfBirth` / `estimatedBirthYear` are required; "
    "a survivor may not disclose a name"
)
class SurvivorInput:
    gender: Gender
    given_name: str | None = None
    family_name: str | None = None
    aliases: list[str] | None = None
    date_of_birth: date | None = None
    estimated_birth_year: int | None = None
    nationality: str | None = strawberry.field(default=None, description="ISO 3166-1 alpha-2")
    languages: list[str] | None = strawberry.field(default=None, description="BCP 47 tags")
    interpreter_needed: bool = strawberry.field(
        default=False, description="Needs an interpreter (demographics; shown in previews)"
    )
    contact: ContactInput | None = None


@strawberry.input(description="Intake: the same fields and rules as `POST /v1/cases`")
class CreateCaseInput:
    external_ref: str = strawberry.field(description="Your own id (unique per lead)")
    survivor: SurvivorInput
    exploitation: ExploitationInput | None = None
    needs: list[ServiceKind] | None = None
    risk_level: RiskLevel | None = None
    guardian: GuardianInput | None = strawberry.field(
        default=None, description="Required for a minor"
    )


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


@strawberry.type
class CaseMutations:
    @mutation("cases:write")
    async def create_case(
        self, info: Info, input: CreateCaseInput, idempotency_key: IdempotencyKey = None
    ) -> Case | None:
        """Open a case; your organisation becomes the lead (as `POST /v1/cases`)."""
        body = validated(CaseCreate, input, root=["input"])
        cases = info.context.services.cases()
        view = await once(
            info,
            idempotency_key,
            {"input": input},
            make=lambda: cases.create(body.to_input()),
            ids=lambda view: (view.id, view.id),
            again=cases.get,
            read_scope="cases:read",
        )
        return Case.of(view)

    @mutation("cases:write")
    async def create_case_update(
        self,
        info: Info,
        case_id: UUID,
        input: CreateCaseUpdateInput,
        idempotency_key: IdempotencyKey = None,
    ) -> CaseUpdate | None:
        """Add an update to a case's timeline (as `POST /v1/cases/{id}/updates`; the category's
        own write scope is needed too where it has one)."""
        body = validated(UpdateCreate, input, root=["input"])
        updates = info.context.services.updates()
        row = await once(
            info,
            idempotency_key,
            {"caseId": case_id, "input": input},
            make=lambda: updates.post(case_id, body.to_input()),
            ids=lambda row: (row.id, case_id),
            again=lambda made: updates.get(case_id, made),
            read_scope="cases:read",
        )
        return CaseUpdate.of(row)


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


@strawberry.type
class ConsentMutations:
    @mutation("consents:write")
    async def record_consent(
        self,
        info: Info,
        case_id: UUID,
        input: RecordConsentInput,
        idempotency_key: IdempotencyKey = None,
    ) -> Consent | None:
        """Record the survivor's (or guardian's) consent on a case you lead (as `POST
        /v1/cases/{id}/consents`)."""
        body = validated(ConsentCreate, input, root=["input"])
        consents = info.context.services.consents()
        row = await once(
            info,
            idempotency_key,
            {"caseId": case_id, "input": input},
            make=lambda: consents.grant(case_id, body.to_input()),
            ids=lambda row: (row.id, case_id),
            again=lambda made: consents.get(case_id, made),
            read_scope="cases:read",
        )
        return Consent.of(row)

    @mutation("consents:write")
    async def revoke_consent(
        self, info: Info, case_id: UUID, consent_id: UUID, reason: str
    ) -> Consent | None:
        """Revoke a consent (the lead, or the organisation it names); effective from the next
        request, everywhere."""
        body = validated(RevokeIn, {"reason": reason})
        row = await info.context.services.consents().revoke(case_id, consent_id, body.reason)
        return Consent.of(row)
