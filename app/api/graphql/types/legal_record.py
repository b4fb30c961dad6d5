from __future__ import annotations

from datetime import datetime
from uuid import UUID

import strawberry

from app.api.graphql.types.enums import (
    DocumentStatus,
    DocumentType,
    ProsecutionStatus,
    ProtectiveMeasure,
    ReliefStatus,
    TestimonyStatus,
)
from app.api.schemas.legal import LegalOut
from app.domain.legal import LegalRecord as LegalRecordData


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
        out = LegalOut.of(case_id, record)  # the projection REST answers with
        return cls(
            case_id=out.case_id,
            documents=[IdentityDocument(type=d.type, status=d.status) for d in out.documents],
            testimony_status=out.testimony.status,
            protective_measures=list(out.testimony.protective_measures),
            next_session_at=out.testimony.next_session_at,
            prosecution_status=out.prosecution.status,
            next_hearing_at=out.prosecution.next_hearing_at,
            immigration_relief_type=out.immigration_relief.type,
            immigration_relief_status=out.immigration_relief.status,
            updated_at=out.updated_at,
            version=out.version,
        )
