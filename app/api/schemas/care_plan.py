"""Goal, service-record and care-plan schemas (CONTRACT §4 "Care plan")."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import Field, StringConstraints

from app.api.schemas.common import RequestModel, ResponseModel, Timestamp
from app.domain.care_plan import (
    CarePlan,
    Goal,
    GoalInput,
    ProgressEntry,
    ProgressInput,
    ScheduledService,
    ServiceCode,
    ServiceInput,
    ServiceRecord,
)
from app.domain.vocabulary import (
    CarePlanCategory,
    GoalStatus,
    ServiceKind,
    ServiceStatus,
    ServiceType,
)

Title = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=4000)]
Note = Annotated[str, StringConstraints(min_length=1, max_length=1000)]
MAX_CODES = 10
CodeSystem = Annotated[str, StringConstraints(min_length=1, max_length=100)]
CodeValue = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class GoalIn(RequestModel):
    category: CarePlanCategory = Field(description="The domain of care; decides who sees it")
    title: Title
    description: Text | None = None
    owner_org_id: UUID = Field(description="The lead or a current care-team member")
    target_date: date | None = None

    def to_input(self) -> GoalInput:
        return GoalInput(
            category=self.category,
            title=self.title,
            description=self.description,
            owner_org_id=self.owner_org_id,
            target_date=self.target_date,
        )


class ProgressIn(RequestModel):
    status: GoalStatus = Field(
        description="`achieved`, `not_achieved` and `cancelled` are final; the same status "
        "again adds a note"
    )
    note: Note | None = None
    recorded_at: Timestamp

    def to_input(self) -> ProgressInput:
        return ProgressInput(status=self.status, note=self.note, recorded_at=self.recorded_at)


class CodeIn(RequestModel):
    system: CodeSystem = Field(description="e.g. `ICD-10`, `SNOMED CT`, `ISCED`")
    code: CodeValue


class ServiceIn(RequestModel):
    service: ServiceKind
    category: CarePlanCategory = Field(description="The domain of care; decides who sees it")
    type: ServiceType
    status: ServiceStatus
    scheduled_at: Timestamp | None = Field(
        default=None, description="Required when `scheduled` or `missed`"
    )
    occurred_at: Timestamp | None = Field(
        default=None, description="Required when `attended` or `completed`"
    )
    provider_org_id: UUID = Field(description="The lead or a current care-team member")
    goal_id: UUID | None = Field(default=None, description="A goal of the same case and category")
    notes: Text | None = None
    codes: list[CodeIn] = Field(
        default_factory=list, max_length=MAX_CODES, description="Standard codes, stored as given"
    )

    def to_input(self) -> ServiceInput:
        return ServiceInput(
            service=self.service,
            category=self.category,
            type=self.type,
            status=self.status,
            scheduled_at=self.scheduled_at,
            occurred_at=self.occurred_at,
            provider_org_id=self.provider_org_id,
            goal_id=self.goal_id,
            notes=self.notes,
            codes=tuple(ServiceCode(c.system, c.code) for c in self.codes),
        )


class ServicePatch(RequestModel):
    """Fields present replace; `notes: null` clears the notes."""

    status: ServiceStatus | None = None
    occurred_at: Timestamp | None = None
    notes: Text | None = None

    not_null = ("status", "occurred_at")

    def to_changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


# -- responses ----------------------------------------------------------------------------------
class ProgressOut(ResponseModel):
    id: UUID
    status: GoalStatus
    note: str | None
    recorded_at: datetime
    recorded_by_org_id: UUID
    created_at: datetime

    @classmethod
    def of(cls, entry: ProgressEntry) -> ProgressOut:
        return cls.model_validate(entry)


class GoalOut(ResponseModel):
    id: UUID
    case_id: UUID
    category: CarePlanCategory
    title: str
    description: str | None
    owner_org_id: UUID
    created_by_org_id: UUID
    target_date: date | None
    status: GoalStatus
    progress: list[ProgressOut] = Field(description="The status history, oldest first")
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, goal: Goal) -> GoalOut:
        return cls.model_validate(goal)


class CodeOut(ResponseModel):
    system: str
    code: str


class ServiceOut(ResponseModel):
    id: UUID
    case_id: UUID
    category: CarePlanCategory
    service: ServiceKind
    type: ServiceType
    status: ServiceStatus
    scheduled_at: datetime | None
    occurred_at: datetime | None
    provider_org_id: UUID
    goal_id: UUID | None
    notes: str | None
    codes: list[CodeOut]
    recorded_by_org_id: UUID
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, record: ServiceRecord) -> ServiceOut:
        return cls.model_validate(record)


class ScheduledServiceOut(ServiceOut):
    case_reference: str

    @classmethod
    def of_scheduled(cls, item: ScheduledService) -> ScheduledServiceOut:
        return cls(**ServiceOut.of(item.record).model_dump(), case_reference=item.case_reference)


class AttendanceOut(ResponseModel):
    attended: int = Field(description="Service records `attended` or `completed`")
    missed: int = Field(description="Service records `missed`")


class CarePlanOut(ResponseModel):
    case_id: UUID
    goals: list[GoalOut] = Field(
        description="Goals in the categories you may see, oldest first (at most 100)"
    )
    services: list[ServiceOut] = Field(
        description="Service records still `scheduled` (past ones without an outcome too), "
        "soonest first (at most 100)"
    )
    attendance: dict[CarePlanCategory, AttendanceOut] = Field(
        description="Per category you may see that has service records: how many were "
        "attended (or completed) and how many missed"
    )

    @classmethod
    def of(cls, plan: CarePlan) -> CarePlanOut:
        return cls.model_validate(plan)
