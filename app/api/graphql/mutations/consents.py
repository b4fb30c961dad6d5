"""Consent mutations and their input."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import strawberry

from app.api.graphql.context import Info
from app.api.graphql.field_extensions import mutation
from app.api.graphql.idempotency import IdempotencyKey, once
from app.api.graphql.types.case import Consent
from app.api.graphql.types.enums import Category, Granter, OrganizationKind
from app.api.graphql.validation import validated
from app.api.schemas.cases import ConsentCreate, RevokeIn


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
