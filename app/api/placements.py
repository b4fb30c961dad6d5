"""Placements, home reviews, visits and overdue visits (CONTRACT §4 "Placements, home reviews,
visits, follow-ups")."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from starlette.responses import Response

from app.api.deps import PlacementsReadCtx, PlacementsWriteCtx
from app.api.idempotency import Created, Idempotent
from app.api.json_body import StrictJSONRoute
from app.api.pagination import DEFAULT_PAGE_SIZE, Cursor, Limit, PageOut
from app.api.problems import problem_responses
from app.api.responses import model_response, page_response
from app.api.schemas.placements import (
    HomeReviewIn,
    HomeReviewOut,
    OverdueVisitOut,
    PlacementEndIn,
    PlacementIn,
    PlacementOut,
    VisitIn,
    VisitOut,
)
from app.domain.placements import PlacementInput, PlacementService

router = APIRouter(
    tags=["aftercare journey"],
    responses=problem_responses(401, 403, 404, 422),
    route_class=StrictJSONRoute,
)


@router.post(
    "/v1/cases/{case_id}/placements",
    status_code=201,
    response_model=PlacementOut,
    summary="Start a placement (one active per case)",
    responses=problem_responses(409),
)
async def create_placement(
    case_id: UUID,
    body: PlacementIn,
    ctx: PlacementsWriteCtx,
    idem: Idempotent,
) -> Response:
    async def create() -> Created:
        row = await PlacementService(ctx).create(
            case_id,
            PlacementInput(
                org_id=body.org_id,
                setting=body.setting,
                started_at=body.started_at,
                home_review_id=body.home_review_id,
            ),
        )
        return Created(
            PlacementOut.of(row), location=f"/v1/cases/{case_id}/placements", case_id=case_id
        )

    return await idem.create(ctx, create)


@router.get(
    "/v1/cases/{case_id}/placements",
    response_model=PageOut[PlacementOut],
    summary="Placements of a case, oldest first",
)
async def list_placements(
    case_id: UUID,
    ctx: PlacementsReadCtx,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Response:
    page = await PlacementService(ctx).list(case_id, limit=limit, cursor=cursor)
    return page_response(page, PlacementOut, PlacementOut.of)


@router.post(
    "/v1/cases/{case_id}/placements/{placement_id}/end",
    response_model=PlacementOut,
    summary="End a placement (a minor's exit needs an authorization_ref unless transferred)",
    responses=problem_responses(409),
)
async def end_placement(
    case_id: UUID,
    placement_id: UUID,
    body: PlacementEndIn,
    ctx: PlacementsWriteCtx,
) -> Response:
    row = await PlacementService(ctx).end(
        case_id,
        placement_id,
        ended_at=body.ended_at,
        exit_reason=body.exit_reason,
        authorization_ref=body.authorization_ref,
    )
    return model_response(PlacementOut.of(row))


@router.post(
    "/v1/cases/{case_id}/home-reviews",
    status_code=201,
    response_model=HomeReviewOut,
    summary="Record a home review (vetting a community or foster family)",
)
async def create_home_review(
    case_id: UUID,
    body: HomeReviewIn,
    ctx: PlacementsWriteCtx,
    idem: Idempotent,
) -> Response:
    async def create() -> Created:
        row = await PlacementService(ctx).review(
            case_id, reviewed_at=body.reviewed_at, result=body.result, notes=body.notes
        )
        return Created(HomeReviewOut.of(row), case_id=case_id)

    return await idem.create(ctx, create)


@router.post(
    "/v1/cases/{case_id}/placements/{placement_id}/visits",
    status_code=201,
    response_model=VisitOut,
    summary="Record a visit to a community or foster placement",
    responses=problem_responses(409),
)
async def create_visit(
    case_id: UUID,
    placement_id: UUID,
    body: VisitIn,
    ctx: PlacementsWriteCtx,
    idem: Idempotent,
) -> Response:
    async def create() -> Created:
        row = await PlacementService(ctx).visit(
            case_id, placement_id, visited_at=body.visited_at, summary=body.summary
        )
        return Created(VisitOut.of(row), case_id=case_id)

    return await idem.create(ctx, create)


@router.get(
    "/v1/placements/overdue-visits",
    response_model=PageOut[OverdueVisitOut],
    summary="Your community and foster placements with no visit in the last 7 days",
)
async def overdue_visits(
    ctx: PlacementsReadCtx,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Response:
    page = await PlacementService(ctx).overdue_visits(limit=limit, cursor=cursor)
    items = [
        OverdueVisitOut(
            placement_id=i.row.id,
            case_id=i.row.case_id,
            case_reference=i.row.reference,
            org_id=i.row.org_id,
            setting=i.row.setting,
            started_at=i.row.started_at,
            last_visit_at=i.row.last_visit_at,
            days_overdue=i.days_overdue,
        )
        for i in page.items
    ]
    return model_response(PageOut[OverdueVisitOut](items=items, next_cursor=page.next_cursor))
