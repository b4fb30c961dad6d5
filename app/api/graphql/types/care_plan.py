"""The care plan under a case: goals with their status history and service records, built
straight from the domain's views (the same values REST answers with)."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import strawberry

from app.api.graphql.types.enums import (
    CarePlanCategory,
    GoalStatus,
    ServiceKind,
    ServiceStatus,
    ServiceType,
)
from app.domain.care_plan import Goal as GoalData
from app.domain.care_plan import ProgressEntry as ProgressData
from app.domain.care_plan import ServiceRecord as ServiceData


@strawberry.type(description="One entry of a goal's status history")
class GoalProgress:
    id: UUID
    status: GoalStatus
    note: str | None
    recorded_at: datetime
    recorded_by_org_id: UUID
    created_at: datetime

    @classmethod
    def of(cls, entry: ProgressData) -> GoalProgress:
        return cls(
            id=entry.id,
            status=GoalStatus(entry.status),
            note=entry.note,
            recorded_at=entry.recorded_at,
            recorded_by_org_id=entry.recorded_by_org_id,
            created_at=entry.created_at,
        )


@strawberry.type(
    description="A goal in one category of a case, owned by the lead or a care-team member "
    "(as REST's goals)"
)
class Goal:
    id: UUID
    case_id: UUID
    category: CarePlanCategory
    title: str
    description: str | None
    owner_org_id: UUID
    created_by_org_id: UUID
    target_date: date | None
    status: GoalStatus
    progress: list[GoalProgress] = strawberry.field(
        description="The status history, oldest first (at most 50 entries)"
    )
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, goal: GoalData) -> Goal:
        return cls(
            id=goal.id,
            case_id=goal.case_id,
            category=CarePlanCategory(goal.category),
            title=goal.title,
            description=goal.description,
            owner_org_id=goal.owner_org_id,
            created_by_org_id=goal.created_by_org_id,
            target_date=goal.target_date,
            status=GoalStatus(goal.status),
            progress=[GoalProgress.of(e) for e in goal.progress],
            created_at=goal.created_at,
            updated_at=goal.updated_at,
            version=goal.version,
        )


@strawberry.type(description="A standard code, stored as given (e.g. ICD-10, SNOMED CT, ISCED)")
class ServiceCode:
    system: str
    code: str


@strawberry.type(
    description="A service record: an appointment, session, enrolment, assessment or supply "
    "(as REST's services)"
)
class ServiceRecord:
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
    codes: list[ServiceCode]
    recorded_by_org_id: UUID
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, record: ServiceData) -> ServiceRecord:
        return cls(
            id=record.id,
            case_id=record.case_id,
            category=CarePlanCategory(record.category),
            service=ServiceKind(record.service),
            type=ServiceType(record.type),
            status=ServiceStatus(record.status),
            scheduled_at=record.scheduled_at,
            occurred_at=record.occurred_at,
            provider_org_id=record.provider_org_id,
            goal_id=record.goal_id,
            notes=record.notes,
            codes=[ServiceCode(system=c.system, code=c.code) for c in record.codes],
            recorded_by_org_id=record.recorded_by_org_id,
            created_at=record.created_at,
            updated_at=record.updated_at,
            version=record.version,
        )
