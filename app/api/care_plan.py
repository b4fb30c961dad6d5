"""Goals, service records and the care plan (CONTRACT §4 "Care plan: goals and service
records"). Every rule is the domain's; this module only translates HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from uuid import UUID

from fastapi import Query
from starlette.responses import Response

from app.api.conditional import Versions
from app.api.deps import CasesReadCtx, CasesWriteCtx
from app.api.idempotency import Created
from app.api.pagination import Paging
from app.api.responses import view_response
from app.api.routes import Routes
from app.api.schemas.care_plan import (
    CarePlanOut,
    GoalIn,
    GoalOut,
    ProgressIn,
    ScheduledServiceOut,
    ServiceIn,
    ServiceOut,
    ServicePatch,
)
from app.api.schemas.common import Timestamp
from app.domain.care_plan import CarePlanService, Goal, ScheduledService, ServiceRecord
from app.domain.pagination import Page
from app.domain.vocabulary import CarePlanCategory, GoalStatus, ServiceStatus

routes = Routes("care plan")
router = routes.router

SCHEDULED_HORIZON = timedelta(days=30)


# -- goals ----------------------------------------------------------------------------------------
@routes.create(
    "/v1/cases/{case_id}/goals",
    GoalOut,
    again=lambda ctx, case_id, made: CarePlanService(ctx).get_goal(case_id, made),
)
async def create_goal(case_id: UUID, body: GoalIn, ctx: CasesWriteCtx) -> Created:
    """Set a goal in one category of the case (owner: the lead or a care-team member)"""
    goal = await CarePlanService(ctx).create_goal(case_id, body.to_input())
    return Created.in_case(case_id, "goals", goal.id, GoalOut.of(goal))


@routes.act("/v1/cases/{case_id}/goals/{goal_id}/progress", GoalOut.of, 409)
async def record_goal_progress(
    case_id: UUID, goal_id: UUID, body: ProgressIn, ctx: CasesWriteCtx
) -> Goal:
    """Record progress on a goal (its status history grows by one entry)"""
    return await CarePlanService(ctx).record_progress(case_id, goal_id, body.to_input())


@routes.page("/v1/cases/{case_id}/goals", GoalOut.of)
async def list_goals(
    case_id: UUID,
    ctx: CasesReadCtx,
    paging: Paging,
    category: CarePlanCategory | None = None,
    status: GoalStatus | None = None,
) -> Page[Goal]:
    """Goals of a case in the categories you may see, oldest first"""
    return await CarePlanService(ctx).list_goals(
        case_id, category=category, status=status, **paging
    )


@routes.read("/v1/cases/{case_id}/goals/{goal_id}", GoalOut.of)
async def get_goal(case_id: UUID, goal_id: UUID, ctx: CasesReadCtx) -> Goal:
    """One goal"""
    return await CarePlanService(ctx).get_goal(case_id, goal_id)


# -- service records ------------------------------------------------------------------------------
@routes.create(
    "/v1/cases/{case_id}/services",
    ServiceOut,
    again=lambda ctx, case_id, made: CarePlanService(ctx).get_service(case_id, made),
)
async def create_service(case_id: UUID, body: ServiceIn, ctx: CasesWriteCtx) -> Created:
    """Record a service: an appointment, session, enrolment, assessment or supply"""
    record = await CarePlanService(ctx).create_service(case_id, body.to_input())
    return Created.in_case(case_id, "services", record.id, ServiceOut.of(record))


@routes.edit("/v1/cases/{case_id}/services/{service_id}", ServiceOut.of, 409)
async def update_service(
    case_id: UUID,
    service_id: UUID,
    body: ServicePatch,
    ctx: CasesWriteCtx,
    expected_version: Versions,
) -> ServiceRecord:
    """Change a service record's status, occurred_at or notes (If-Match)"""
    return await CarePlanService(ctx).update_service(
        case_id, service_id, body.to_changes(), expected_version=expected_version
    )


@routes.page("/v1/cases/{case_id}/services", ServiceOut.of)
async def list_services(
    case_id: UUID,
    ctx: CasesReadCtx,
    paging: Paging,
    category: CarePlanCategory | None = None,
    status: ServiceStatus | None = None,
) -> Page[ServiceRecord]:
    """Service records of a case in the categories you may see, oldest first"""
    return await CarePlanService(ctx).list_services(
        case_id, category=category, status=status, **paging
    )


@routes.read("/v1/cases/{case_id}/services/{service_id}", ServiceOut.of)
async def get_service(case_id: UUID, service_id: UUID, ctx: CasesReadCtx) -> ServiceRecord:
    """One service record"""
    return await CarePlanService(ctx).get_service(case_id, service_id)


@routes.page("/v1/services/scheduled", ScheduledServiceOut.of_scheduled)
async def scheduled_services(
    ctx: CasesReadCtx,
    paging: Paging,
    before: Annotated[Timestamp | None, Query(description="RFC 3339, with offset")] = None,
) -> Page[ScheduledService]:
    """Your own services still scheduled before `before` (default: 30 days from now), across
    the cases you may see, soonest first"""
    horizon = before or datetime.now(UTC) + SCHEDULED_HORIZON
    return await CarePlanService(ctx).scheduled(before=horizon, **paging)


# -- the care plan --------------------------------------------------------------------------------
@routes.read("/v1/cases/{case_id}/care-plan", CarePlanOut)
async def get_care_plan(case_id: UUID, ctx: CasesReadCtx) -> Response:
    """The care plan: goals, services still scheduled, attended/missed counts per category"""
    # The domain's CarePlan has CarePlanOut's fields, all the way down: no pydantic pass.
    return view_response(await CarePlanService(ctx).care_plan(case_id))
