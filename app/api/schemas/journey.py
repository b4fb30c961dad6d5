"""Legal, placement and follow-up schemas."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import Field, StringConstraints

from app.api.schemas.common import RequestModel, ResponseModel, Timestamp
from app.domain.legal import LegalRecord
from app.domain.vocabulary import (
    DocumentStatus,
    DocumentType,
    ExitReason,
    FollowUpOutcome,
    PlacementSetting,
    ProsecutionStatus,
    ProtectiveMeasure,
    ReliefStatus,
    ReviewResult,
    TestimonyStatus,
)

Short = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=4000)]


class Document(RequestModel):
    type: DocumentType
    status: DocumentStatus


class Testimony(RequestModel):
    status: TestimonyStatus = TestimonyStatus.NOT_STARTED
    protective_measures: list[ProtectiveMeasure] = Field(default_factory=list, max_length=5)
    next_session_at: Timestamp | None = None


class Prosecution(RequestModel):
    status: ProsecutionStatus = ProsecutionStatus.NONE
    next_hearing_at: Timestamp | None = None


class ImmigrationRelief(RequestModel):
    type: Short | None = Field(default=None, description="e.g. a trafficking-victim visa")
    status: ReliefStatus | None = None


class LegalIn(RequestModel):
    """The whole record (PUT replaces it)."""

    documents: list[Document] = Field(default_factory=list, max_length=20)
    testimony: Testimony = Field(default_factory=Testimony)
    prosecution: Prosecution = Field(default_factory=Prosecution)
    immigration_relief: ImmigrationRelief = Field(default_factory=ImmigrationRelief)

    def to_record(self) -> LegalRecord:
        return LegalRecord(
            documents=[{"type": str(d.type), "status": str(d.status)} for d in self.documents],
            testimony_status=str(self.testimony.status),
            protective_measures=[str(m) for m in dict.fromkeys(self.testimony.protective_measures)],
            next_session_at=self.testimony.next_session_at,
            prosecution_status=str(self.prosecution.status),
            next_hearing_at=self.prosecution.next_hearing_at,
            immigration_relief_type=self.immigration_relief.type,
            immigration_relief_status=str(self.immigration_relief.status)
            if self.immigration_relief.status
            else None,
        )


class DocumentOut(ResponseModel):
    type: DocumentType
    status: DocumentStatus


class TestimonyOut(ResponseModel):
    status: TestimonyStatus
    protective_measures: list[ProtectiveMeasure]
    next_session_at: datetime | None


class ProsecutionOut(ResponseModel):
    status: ProsecutionStatus
    next_hearing_at: datetime | None


class ImmigrationReliefOut(ResponseModel):
    type: str | None
    status: ReliefStatus | None


class LegalOut(ResponseModel):
    case_id: UUID
    documents: list[DocumentOut]
    testimony: TestimonyOut
    prosecution: ProsecutionOut
    immigration_relief: ImmigrationReliefOut
    updated_at: datetime | None
    version: int = Field(description="0 until the record is first written")

    @classmethod
    def of(cls, case_id: UUID, record: LegalRecord) -> LegalOut:
        return cls(
            case_id=case_id,
            documents=[DocumentOut(**d) for d in record.documents],
            testimony=TestimonyOut(
                status=TestimonyStatus(record.testimony_status),
                protective_measures=[ProtectiveMeasure(m) for m in record.protective_measures],
                next_session_at=record.next_session_at,
            ),
            prosecution=ProsecutionOut(
                status=ProsecutionStatus(record.prosecution_status),
                next_hearing_at=record.next_hearing_at,
            ),
            immigration_relief=ImmigrationReliefOut(
                type=record.immigration_relief_type,
                status=ReliefStatus(record.immigration_relief_status)
                if record.immigration_relief_status
                else None,
            ),
            updated_at=record.updated_at,
            version=record.version,
        )


class TestimonyRow(ResponseModel):
    case_id: UUID
    reference: str
    testimony_status: TestimonyStatus
    protective_measures: list[ProtectiveMeasure]
    next_session_at: datetime | None
    next_hearing_at: datetime | None
    last_change: datetime

    @classmethod
    def of(cls, row: Any) -> TestimonyRow:
        return cls(
            case_id=row["case_id"],
            reference=row["reference"],
            testimony_status=TestimonyStatus(row["testimony_status"]),
            protective_measures=[ProtectiveMeasure(m) for m in row["protective_measures"]],
            next_session_at=row["next_session_at"],
            next_hearing_at=row["next_hearing_at"],
            last_change=row["last_change"],
        )


class PlacementIn(RequestModel):
    org_id: UUID = Field(description="The organisation providing the placement")
    setting: PlacementSetting
    started_at: Timestamp
    home_review_id: UUID | None = Field(
        default=None, description="Required for community_family and foster_family (approved)"
    )


class PlacementEndIn(RequestModel):
    ended_at: Timestamp
    exit_reason: ExitReason
    authorization_ref: Short | None = Field(
        default=None,
        description="The court's or social-welfare authority's decision; required for a "
        "minor's exit other than `transferred`",
    )


class PlacementOut(ResponseModel):
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
    def of(cls, row: Any) -> PlacementOut:
        return cls(**{k: row[k] for k in cls.model_fields})


class HomeReviewIn(RequestModel):
    reviewed_at: Timestamp
    result: ReviewResult
    notes: Text | None = None


class HomeReviewOut(ResponseModel):
    id: UUID
    case_id: UUID
    reviewer_org_id: UUID
    reviewed_at: datetime
    result: ReviewResult
    notes: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: Any) -> HomeReviewOut:
        return cls(**{k: row[k] for k in cls.model_fields})


class VisitIn(RequestModel):
    visited_at: Timestamp
    summary: Text


class VisitOut(ResponseModel):
    id: UUID
    placement_id: UUID
    visitor_org_id: UUID
    visited_at: datetime
    summary: str
    created_at: datetime

    @classmethod
    def of(cls, row: Any) -> VisitOut:
        return cls(**{k: row[k] for k in cls.model_fields})


class OverdueVisitOut(ResponseModel):
    placement_id: UUID
    case_id: UUID
    case_reference: str
    org_id: UUID
    setting: PlacementSetting
    started_at: datetime
    last_visit_at: datetime | None
    days_overdue: int


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
    def of(cls, row: Any) -> FollowUpOut:
        return cls(**{k: row[k] for k in cls.model_fields})


class DueFollowUpOut(FollowUpOut):
    case_reference: str
    days_overdue: int = Field(description="0 when due today")
