"""Legal-record and testimony-pull schemas."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from app.api.schemas.common import RequestModel, ResponseModel, ShortText, Timestamp
from app.domain.legal import LegalRecord, TestimonyStatusRow
from app.domain.vocabulary import (
    DocumentStatus,
    DocumentType,
    ProsecutionStatus,
    ProtectiveMeasure,
    ReliefStatus,
    TestimonyStatus,
)


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
    type: ShortText | None = Field(default=None, description="e.g. a trafficking-victim visa")
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
    def of(cls, row: TestimonyStatusRow) -> TestimonyRow:
        return cls.model_validate(row)
