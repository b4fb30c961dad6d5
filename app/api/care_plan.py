"""Goals, service records and the care plan (CONTRACT §4 "Care plan: goals and service
records"). Every rule is the domain's; this module only translates HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from uuid import UUID

from fastapi import Query
from starlette.responses import Response

from app.api.conditional import IfMatch, expected_version
from app.api.deps import CasesReadCtx, CasesWriteCtx
from app.api.idempotency import Created
from app.api.pagination import DEFAULT_PAGE_SIZE, Cursor, Limit
from app.api.responses import page_response, versioned_response, view_response
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
from app.domain.care_plan import CarePlanService
from app.domain.vocabulary import CarePlanCategory, GoalStatus, ServiceStatus

routes = Routes("care plan")
router = routes.router

SCHEDULED_HORIZON = timedelta(days=30)


# -- goals ----------------------------------------------------------------------------------------
@routes.create("/v1/cases/{case_id}/goals", GoalOut)
async def create_goal(case_id: UUID, body: GoalIn, ctx: CasesWriteCtx) -> Created:
    """Set a goal in one category of the case (owner: the lead or a care-team member)"""
    goal = await CarePlanService(ctx).create_goal(case_id, body.to_input())
    return Created.in_case(case_id, "goals", goal.id, GoalOut.of(goal), version=goal.version)


@routes.act("/v1/cases/{case_id}/goals/{goal_id}/progress", GoalOut, 409)
async def record_goal_progress(
    case_id: UUID, goal_id: UUID, body: ProgressIn, ctx: CasesWriteCtx
) -> Response:
    """Record progress on a goal (its status history grows by one entry)"""
    goal = await CarePlanService(ctx).record_progress(case_id, goal_id, body.to_input())
    return versioned_response(GoalOut.of(goal), goal.version)


@routes.page("/v1/cases/{case_id}/goals", GoalOut)
async def list_goals(
    case_id: UUID,
    ctx: CasesReadCtx,
    category: CarePlanCategory | None = None,
    status: GoalStatus | None = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Response:
    """Goals of a case in the categories you may see, oldest first"""
    page = await CarePlanService(ctx).list_goals(
        case_id, category=category, status=status, limit=limit, cursor=cursor
    )
    return page_response(page, GoalOut, GoalOut.of)


@routes.read("/v1/cases/{case_id}/goals/{goal_id}", GoalOut)
async def get_goal(case_id: UUID, goal_id: UUID, ctx: CasesReadCtx) -> Response:
    """One goal"""
    goal = await CarePlanService(ctx).get_goal(case_id, goal_id)
    return versioned_response(GoalOut.of(goal), goal.version)


# -- service records ------------------------------------------------------------------------------
@routes.create("/v1/cases/{case_id}/services", ServiceOut)
async def create_service(case_id: UUID, body: ServiceIn, ctx: CasesWriteCtx) -> Created:
    """Record a service: an appointment, session, enrolment, assessment or supply"""
    record = await CarePlanService(ctx).create_service(case_id, body.to_input())
    return Created.in_case(
        case_id, "services", record.id, ServiceOut.of(record), version=record.version
    )


@routes.edit("/v1/cases/{case_id}/services/{service_id}", ServiceOut, 409)
async def update_service(
    case_id: UUID,
    service_id: UUID,
    body: ServicePatch,
    ctx: CasesWriteCtx,
    if_match: IfMatch = None,
) -> Response:
    """Change a service record's status, occurred_at or notes (If-Match)"""
    version = expected_version(if_match)
    record = await CarePlanService(ctx).update_service(
        case_id, service_id, body.to_changes(), expected_version=version
    )
    return versioned_response(ServiceOut.of(record), record.version)


@routes.page("/v1/cases/{case_id}/services", ServiceOut)
async def list_services(
    case_id: UUID,
    ctx: CasesReadCtx,
    category: CarePlanCategory | None = None,
    status: ServiceStatus | None = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Response:
    """Service records of a case in the categories you may see, oldest first"""
    page = await CarePlanService(ctx).list_services(
        case_id, category=category, status=status, limit=limit, cursor=cursor
    )
    return page_response(page, ServiceOut, ServiceOut.of)


@routes.read("/v1/cases/{case_id}/services/{service_id}", ServiceOut)
async def get_service(case_id: UUID, service_id: UUID, ctx: CasesReadCtx) -> Response:
    """One service record"""
    record = await CarePlanService(ctx).get_service(case_id, service_id)
    return versioned_response(ServiceOut.of(record), record.version)


@routes.page("/v1/services/scheduled", ScheduledServiceOut)
async def scheduled_services(
    ctx: CasesReadCtx,
    before: Annotated[Timestamp | None, Query(description="RFC 3339, with offset")] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Response:
    """Your own services still scheduled before `before` (default: 30 days from now), across
    the cases you may see, soonest first"""
    horizon = before or datetime.now(UTC) + SCHEDULED_HORIZON
    page = await CarePlanService(ctx).scheduled(before=horizon, limit=limit, cursor=cursor)
    return page_response(page, ScheduledServiceOut, ScheduledServiceOut.of_scheduled)


# -- the care plan --------------------------------------------------------------------------------
@routes.read("/v1/cases/{case_id}/care-plan", CarePlanOut)
async def get_care_plan(case_id: UUID, ctx: CasesReadCtx) -> Response:
    """The care plan: goals, services still scheduled, attended/missed counts per category"""
    # The domain's CarePlan has CarePlanOut's fields, all the way down: no pydantic pass.
    return view_response(await CarePlanService(ctx).care_plan(case_id))
