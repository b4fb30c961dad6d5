from __future__ import annotations

from uuid import UUID

import strawberry

from app.api.graphql.context import Info
from app.api.graphql.inputs.record_consent_input import RecordConsentInput
from app.api.graphql.inputs.validation import validated
from app.api.graphql.mutations.fields import mutation
from app.api.graphql.types.consent import Consent
from app.api.schemas.cases import ConsentCreate, RevokeIn


@strawberry.type
class ConsentMutations:
    @mutation(
        "consents:write",
        description="Record the survivor's (or guardian's) consent on a case you lead "
        "(as `POST /v1/cases/{id}/consents`).",
    )
    async def record_consent(
        self, info: Info, case_id: UUID, input: RecordConsentInput
    ) -> Consent | None:
        body = validated(ConsentCreate, input, root=["input"])
        row = await info.context.services.consents().grant(case_id, body.to_input())
        return Consent.of(row)

    @mutation(
        "consents:write",
        description="Revoke a consent; effective from the next request, everywhere.",
    )
    async def revoke_consent(
        self, info: Info, case_id: UUID, consent_id: UUID, reason: str
    ) -> Consent | None:
        body = validated(RevokeIn, {"reason": reason})
        row = await info.context.services.consents().revoke(case_id, consent_id, body.reason)
        return Consent.of(row)
