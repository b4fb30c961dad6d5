from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import strawberry

from app.api.graphql.types.enums import Category, ConsentStatus, Granter, OrganizationKind
from app.api.schemas.cases import ConsentOut
from app.domain.consents import Consent as ConsentData


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
        out = ConsentOut.of(consent, datetime.now(UTC))
        return cls(
            id=out.id,
            case_id=out.case_id,
            status=ConsentStatus(out.status),
            granted_by=list(out.granted_by),
            recipient_org_id=out.recipient_org_id,
            recipient_kinds=list(out.recipient_kinds),
            categories=list(out.categories),
            purpose=out.purpose,
            obtained_at=out.obtained_at,
            expires_at=out.expires_at,
            evidence_ref=out.evidence_ref,
            revoked_at=out.revoked_at,
            revoke_reason=out.revoke_reason,
            created_at=out.created_at,
            updated_at=out.updated_at,
            version=out.version,
        )
