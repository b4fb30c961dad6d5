"""Follow-up schemas."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from pydantic import Field

from app.api.schemas.common import RequestModel, ResponseModel, Timestamp
from app.domain.followups import FollowUpRow
from app.domain.vocabulary import FollowUpOutcome


class FollowUpIn(RequestModel):
    due_on: date


class FollowUpRecordIn(RequestModel):
    contacted_at: Timestamp
    outcome: FollowUpOutcome


class FollowUpOut(ResponseModel):
    id: UUID
    case_id: UUID
    org_id: UUID
    due_on: date
    contacted_at: datetime | None
    outcome: FollowUpOutcome | None
    recorded_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, row: FollowUpRow) -> FollowUpOut:
        return cls(
            id=row.id,
            case_id=row.case_id,
            org_id=row.org_id,
            due_on=row.due_on,
            contacted_at=row.contacted_at,
            outcome=row.outcome,
            recorded_at=row.recorded_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            version=row.version,
        )


class DueFollowUpOut(FollowUpOut):
    case_reference: str
    days_overdue: int = Field(description="0 when due today")
