"""Goals, service records and the care plan (CONTRACT §4 "Care plan: goals and service
records"). Every rule is the domain's; this module only translates HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from starlette.responses import Response

from app.api.conditional import IfMatch, expected_version
from app.api.deps import CasesReadCtx, CasesWriteCtx
from app.api.idempotency import Created, Idempotent
from app.api.json_body import StrictJSONRoute
from app.api.pagination import DEFAULT_PAGE_SIZE, Cursor, Limit, PageOut
from app.api.problems import problem_responses
from app.api.responses import page_response, versioned_response, view_response
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

router = APIRouter(
    tags=["care plan"],
    responses=problem_responses(401, 403, 404, 422),
    route_class=StrictJSONRoute,
)
SCHEDULED_HORIZON = timedelta(days=30)


# -- goals ----------------------------------------------------------------------------------------
@router.post(
    "/v1/cases/{case_id}/goals",
    status_code=201,
    response_model=GoalOut,
    summary="Set a goal in one category of the case (owner: the lead or a care-team member)",
)
async def create_goal(
    case_id: UUID, body: GoalIn, ctx: CasesWriteCtx, idem: Idempotent
) -> Response:
    async def create() -> Created:
        goal = await CarePlanService(ctx).create_goal(case_id, body.to_input())
        return Created.in_case(case_id, "goals", goal.id, GoalOut.of(goal), version=goal.version)

    return await idem.create(ctx, create)


@router.post(
    "/v1/cases/{case_id}/goals/{goal_id}/progress",
    response_model=GoalOut,
    summary="Record progress on a goal (its status history grows by one entry)",
    responses=problem_responses(409),
)
async def record_goal_progress(
    case_id: UUID, goal_id: UUID, body: ProgressIn, ctx: CasesWriteCtx
) -> Response:
    goal = await CarePlanService(ctx).record_progress(case_id, goal_id, body.to_input())
    return versioned_response(GoalOut.of(goal), goal.version)


@router.get(
    "/v1/cases/{case_id}/goals",
    response_model=PageOut[GoalOut],
    summary="Goals of a case in the categories you may see, oldest first",
)
async def list_goals(
    case_id: UUID,
    ctx: CasesReadCtx,
    category: CarePlanCategory | None = None,
    status: GoalStatus | None = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Response:
    page = await CarePlanService(ctx).list_goals(
        case_id, category=category, status=status, limit=limit, cursor=cursor
    )
    return page_response(page, GoalOut, GoalOut.of)


@router.get("/v1/cases/{case_id}/goals/{goal_id}", response_model=GoalOut, summary="One goal")
async def get_goal(case_id: UUID, goal_id: UUID, ctx: CasesReadCtx) -> Response:
    goal = await CarePlanService(ctx).get_goal(case_id, goal_id)
    return versioned_response(GoalOut.of(goal), goal.version)


# -- service records ------------------------------------------------------------------------------
@router.post(
    "/v1/cases/{case_id}/services",
    status_code=201,
    response_model=ServiceOut,
    summary="Record a service: an appointment, session, enrolment, assessment or supply",
)
async def create_service(
    case_id: UUID, body: ServiceIn, ctx: CasesWriteCtx, idem: Idempotent
) -> Response:
    async def create() -> Created:
        record = await CarePlanService(ctx).create_service(case_id, body.to_input())
        return Created.in_case(
            case_id, "services", record.id, ServiceOut.of(record), version=record.version
        )

    return await idem.create(ctx, create)


@router.patch(
    "/v1/cases/{case_id}/services/{service_id}",
    response_model=ServiceOut,
    summary="Change a service record's status, occurred_at or notes (If-Match)",
    responses=problem_responses(409, 412, 428),
)
async def update_service(
    case_id: UUID,
    service_id: UUID,
    body: ServicePatch,
    ctx: CasesWriteCtx,
    if_match: IfMatch = None,
) -> Response:
    version = expected_version(if_match)
    record = await CarePlanService(ctx).update_service(
        case_id, service_id, body.to_changes(), expected_version=version
    )
    return versioned_response(ServiceOut.of(record), record.version)


@router.get(
    "/v1/cases/{case_id}/services",
    response_model=PageOut[ServiceOut],
    summary="Service records of a case in the categories you may see, oldest first",
)
async def list_services(
    case_id: UUID,
    ctx: CasesReadCtx,
    category: CarePlanCategory | None = None,
    status: ServiceStatus | None = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Response:
    page = await CarePlanService(ctx).list_services(
        case_id, category=category, status=status, limit=limit, cursor=cursor
    )
    return page_response(page, ServiceOut, ServiceOut.of)


@router.get(
    "/v1/cases/{case_id}/services/{service_id}",
    response_model=ServiceOut,
    summary="One service record",
)
async def get_service(case_id: UUID, service_id: UUID, ctx: CasesReadCtx) -> Response:
    record = await CarePlanService(ctx).get_service(case_id, service_id)
    return versioned_response(ServiceOut.of(record), record.version)


@router.get(
    "/v1/services/scheduled",
    response_model=PageOut[ScheduledServiceOut],
    summary="Your own services still scheduled before `before` (default: 30 days from now), "
    "across the cases you may see, soonest first",
)
async def scheduled_services(
    ctx: CasesReadCtx,
    before: Annotated[Timestamp | None, Query(description="RFC 3339, with offset")] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Response:
    horizon = before or datetime.now(UTC) + SCHEDULED_HORIZON
    page = await CarePlanService(ctx).scheduled(before=horizon, limit=limit, cursor=cursor)
    return page_response(page, ScheduledServiceOut, ScheduledServiceOut.of_scheduled)


# -- the care plan --------------------------------------------------------------------------------
@router.get(
    "/v1/cases/{case_id}/care-plan",
    response_model=CarePlanOut,
    summary="The care plan: goals, services still scheduled, attended/missed counts per category",
)
async def get_care_plan(case_id: UUID, ctx: CasesReadCtx) -> Response:
    # The domain's CarePlan has CarePlanOut's fields, all the way down: no pydantic pass.
    return view_response(await CarePlanService(ctx).care_plan(case_id))
