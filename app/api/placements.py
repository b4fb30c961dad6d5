"""Placements, home reviews, visits and overdue visits (CONTRACT §4 "Placements, home reviews,
visits, follow-ups")."""

from __future__ import annotations

from uuid import UUID

from app.api.deps import PlacementsReadCtx, PlacementsWriteCtx
from app.api.idempotency import Created
from app.api.pagination import Paging
from app.api.routes import Routes
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
from app.domain.pagination import Page
from app.domain.placements import OverdueVisit, Placement, PlacementInput, PlacementService

routes = Routes("aftercare journey")
router = routes.router


@routes.create("/v1/cases/{case_id}/placements", PlacementOut)
async def create_placement(case_id: UUID, body: PlacementIn, ctx: PlacementsWriteCtx) -> Created:
    """Start a placement (one active per case)"""
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


@routes.page("/v1/cases/{case_id}/placements", PlacementOut.of)
async def list_placements(case_id: UUID, ctx: PlacementsReadCtx, paging: Paging) -> Page[Placement]:
    """Placements of a case, oldest first"""
    return await PlacementService(ctx).list(case_id, **paging)


@routes.act("/v1/cases/{case_id}/placements/{placement_id}/end", PlacementOut.of, 409)
async def end_placement(
    case_id: UUID,
    placement_id: UUID,
    body: PlacementEndIn,
    ctx: PlacementsWriteCtx,
) -> Placement:
    """End a placement (a minor's exit needs an authorization_ref unless transferred)"""
    return await PlacementService(ctx).end(
        case_id,
        placement_id,
        ended_at=body.ended_at,
        exit_reason=body.exit_reason,
        authorization_ref=body.authorization_ref,
    )


@routes.create("/v1/cases/{case_id}/home-reviews", HomeReviewOut)
async def create_home_review(case_id: UUID, body: HomeReviewIn, ctx: PlacementsWriteCtx) -> Created:
    """Record a home review (vetting a community or foster family)"""
    row = await PlacementService(ctx).review(
        case_id, reviewed_at=body.reviewed_at, result=body.result, notes=body.notes
    )
    return Created(HomeReviewOut.of(row), case_id=case_id)


@routes.create("/v1/cases/{case_id}/placements/{placement_id}/visits", VisitOut)
async def create_visit(
    case_id: UUID, placement_id: UUID, body: VisitIn, ctx: PlacementsWriteCtx
) -> Created:
    """Record a visit to a community or foster placement"""
    row = await PlacementService(ctx).visit(
        case_id, placement_id, visited_at=body.visited_at, summary=body.summary
    )
    return Created(VisitOut.of(row), case_id=case_id)


@routes.page("/v1/placements/overdue-visits", OverdueVisitOut.of)
async def overdue_visits(ctx: PlacementsReadCtx, paging: Paging) -> Page[OverdueVisit]:
    """Your community and foster placements with no visit in the last 7 days"""
    return await PlacementService(ctx).overdue_visits(**paging)
