from __future__ import annotations

from datetime import datetime
from uuid import UUID

import strawberry

from app.api.graphql.types.enums import ProtectiveMeasure, TestimonyStatus
from app.api.schemas.legal import TestimonyRow
from app.domain.legal import TestimonyStatusRow


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
        out = TestimonyRow.of(row)  # the projection REST answers with
        return cls(
            case_id=out.case_id,
            reference=out.reference,
            testimony_status=out.testimony_status,
            protective_measures=list(out.protective_measures),
            next_session_at=out.next_session_at,
            next_hearing_at=out.next_hearing_at,
            last_change=out.last_change,
        )
