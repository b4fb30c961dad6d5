"""Care-plan mutations and their inputs: goals, their progress, service records."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import strawberry

from app.api.graphql.context import Info
from app.api.graphql.errors import validated
from app.api.graphql.field_extensions import mutation
from app.api.graphql.idempotency import IdempotencyKey, once
from app.api.graphql.types.case import Goal, ServiceRecord
from app.api.graphql.types.enums import (
    CarePlanCategory,
    GoalStatus,
    ServiceKind,
    ServiceStatus,
    ServiceType,
)
from app.api.schemas.care_plan import GoalIn, ProgressIn, ServiceIn, ServicePatch


@strawberry.input(description="A goal: the same fields and rules as `POST /v1/cases/{id}/goals`")
class CreateGoalInput:
    category: CarePlanCategory
    title: str
    owner_org_id: UUID = strawberry.field(description="The lead or a current care-team member")
    description: str | None = None
    target_date: date | None = None


@strawberry.input(
    description="A progress entry: the same fields and rules as `POST …/goals/{id}/progress`"
)
class RecordGoalProgressInput:
    status: GoalStatus
    recorded_at: datetime
    note: str | None = None


@strawberry.input(description="A standard code, stored as given")
class ServiceCodeInput:
    system: str
    code: str


@strawberry.input(
    description="A service record: the same fields and rules as `POST /v1/cases/{id}/services`"
)
class CreateServiceInput:
    service: ServiceKind
    category: CarePlanCategory
    type: ServiceType
    status: ServiceStatus
    provider_org_id: UUID = strawberry.field(description="The lead or a current care-team member")
    scheduled_at: datetime | None = None
    occurred_at: datetime | None = None
    goal_id: UUID | None = strawberry.field(
        default=None, description="A goal of the same case and category"
    )
    notes: str | None = None
    codes: list[ServiceCodeInput] | None = None


@strawberry.input(
    description="What `PATCH /v1/cases/{id}/services/{service_id}` changes; absent fields stay"
)
class UpdateServiceInput:
    status: ServiceStatus | None = None
    occurred_at: datetime | None = None
    notes: str | None = None


@strawberry.type
class CarePlanMutations:
    @mutation("cases:write")
    async def create_goal(
        self,
        info: Info,
        case_id: UUID,
        input: CreateGoalInput,
        idempotency_key: IdempotencyKey = None,
    ) -> Goal | None:
        """Set a goal in one category of a case (as `POST /v1/cases/{id}/goals`; the category's
        own write scope is needed too where it has one)."""
        body = validated(GoalIn, input, root=["input"])
        plans = info.context.services.care_plan()
        goal = await once(
            info,
            idempotency_key,
            {"caseId": case_id, "input": input},
            make=lambda: plans.create_goal(case_id, body.to_input()),
            ids=lambda goal: (goal.id, case_id),
            again=lambda made: plans.get_goal(case_id, made),
            read_scope="cases:read",
        )
        return Goal.of(goal)

    @mutation("cases:write")
    async def record_goal_progress(
        self, info: Info, case_id: UUID, goal_id: UUID, input: RecordGoalProgressInput
    ) -> Goal | None:
        """Record progress on a goal (as `POST …/goals/{id}/progress`)."""
        body = validated(ProgressIn, input, root=["input"])
        goal = await info.context.services.care_plan().record_progress(
            case_id, goal_id, body.to_input()
        )
        return Goal.of(goal)

    @mutation("cases:write")
    async def create_service(
        self,
        info: Info,
        case_id: UUID,
        input: CreateServiceInput,
        idempotency_key: IdempotencyKey = None,
    ) -> ServiceRecord | None:
        """Record a service (as `POST /v1/cases/{id}/services`)."""
        body = validated(ServiceIn, input, root=["input"])
        plans = info.context.services.care_plan()
        record = await once(
            info,
            idempotency_key,
            {"caseId": case_id, "input": input},
            make=lambda: plans.create_service(case_id, body.to_input()),
            ids=lambda record: (record.id, case_id),
            again=lambda made: plans.get_service(case_id, made),
            read_scope="cases:read",
        )
        return ServiceRecord.of(record)

    @mutation("cases:write")
    async def update_service(
        self,
        info: Info,
        case_id: UUID,
        service_id: UUID,
        version: int,
        input: UpdateServiceInput,
    ) -> ServiceRecord | None:
        """Change a service record's status, occurredAt or notes (as `PATCH
        /v1/cases/{id}/services/{service_id}`); `version` is the one you read (REST's
        If-Match): another one is `precondition_failed`."""
        body = validated(ServicePatch, input, root=["input"])
        record = await info.context.services.care_plan().update_service(
            case_id, service_id, body.to_changes(), expected_version=frozenset({version})
        )
        return ServiceRecord.of(record)
