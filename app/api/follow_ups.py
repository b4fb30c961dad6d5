"""Follow-ups after exit (CONTRACT §4 "Placements, home reviews, visits, follow-ups")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import Query
from starlette.responses import Response

from app.api.deps import CasesReadCtx, CasesWriteCtx
from app.api.idempotency import Created
from app.api.pagination import Paging
from app.api.responses import page_response
from app.api.routes import Routes
from app.api.schemas.common import Day
from app.api.schemas.follow_ups import DueFollowUpOut, FollowUpIn, FollowUpOut, FollowUpRecordIn
from app.domain.followups import FollowUpRow, FollowUpService

routes = Routes("aftercare journey")
router = routes.router


@routes.create("/v1/cases/{case_id}/follow-ups", FollowUpOut)
async def schedule_follow_up(case_id: UUID, body: FollowUpIn, ctx: CasesWriteCtx) -> Created:
    """Schedule a follow-up"""
    service = FollowUpService(ctx)
    return Created(FollowUpOut.of(await service.schedule(case_id, body.due_on)), case_id=case_id)


@routes.act("/v1/cases/{case_id}/follow-ups/{follow_up_id}/record", FollowUpOut.of, 409)
async def record_follow_up(
    case_id: UUID,
    follow_up_id: UUID,
    body: FollowUpRecordIn,
    ctx: CasesWriteCtx,
) -> FollowUpRow:
    """Record a follow-up's outcome (at_risk / re_exploited raise the case's risk level)"""
    return await FollowUpService(ctx).record(
        case_id, follow_up_id, contacted_at=body.contacted_at, outcome=body.outcome
    )


@routes.page("/v1/follow-ups", DueFollowUpOut)
async def due_follow_ups(
    ctx: CasesReadCtx,
    paging: Paging,
    due_before: Annotated[Day | None, Query()] = None,
) -> Response:
    """Your follow-ups due (and overdue) on or before `due_before` (default today)"""
    today = datetime.now(UTC).date()
    page = await FollowUpService(ctx).due(due_before=due_before or today, **paging)
    return page_response(
        page,
        DueFollowUpOut,
        lambda r: DueFollowUpOut(
            **FollowUpOut.of(r).model_dump(),
            case_reference=r.reference,
            days_overdue=max((today - r.due_on).days, 0),
        ),
    )
