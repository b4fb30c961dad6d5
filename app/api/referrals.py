"""Referrals (CONTRACT §4 "Referrals"): creation, inboxes, and the state transitions."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Body, Query
from starlette.responses import Response

from app.api.conditional import etag
from app.api.deps import Context, DbSession, ReferralsRead, ReferralsWrite
from app.api.idempotency import Idempotent
from app.api.json_body import StrictJSONRoute
from app.api.pagination import DEFAULT_PAGE_SIZE, Cursor, Limit, PageOut
from app.api.problems import problem_responses
from app.api.responses import model_response, page_response
from app.api.schemas.referrals import AcceptIn, OutcomeIn, ReasonIn, ReferralCreate, ReferralOut
from app.domain.principal import Principal
from app.domain.referral_rules import Action, ReferralStatus
from app.domain.referrals import ReferralService

router = APIRouter(
    prefix="/v1/referrals",
    tags=["referrals"],
    responses=problem_responses(401, 403, 404, 422),
    route_class=StrictJSONRoute,
)


@router.post(
    "",
    status_code=201,
    response_model=ReferralOut,
    summary="Refer a survivor to another partner (you must lead the case)",
    responses=problem_responses(409),
)
async def create_referral(
    body: ReferralCreate,
    session: DbSession,
    ctx: Context,
    principal: ReferralsWrite,
    idem: Idempotent,
) -> Response:
    if (replay := await idem.replay()) is not None:
        return replay
    view = await ReferralService(session, ctx.key_wrapper, principal).create(body.to_input())
    return await idem.respond(
        201,
        ReferralOut.of(view),
        headers={"Location": f"/v1/referrals/{view.row.id}"},
        exclude_unset=True,
        case_id=view.row.case_id,
    )


@router.get("", response_model=PageOut[ReferralOut], summary="Your referral inbox and outbox")
async def list_referrals(
    session: DbSession,
    ctx: Context,
    principal: ReferralsRead,
    direction: Annotated[
        Literal["incoming", "outgoing"] | None, Query(description="Both when omitted")
    ] = None,
    status: ReferralStatus | None = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Response:
    page = await ReferralService(session, ctx.key_wrapper, principal).list(
        direction=direction, status=status, limit=limit, cursor=cursor
    )
    return page_response(page, ReferralOut, ReferralOut.of)


@router.get("/{referral_id}", response_model=ReferralOut, summary="One referral")
async def get_referral(
    referral_id: UUID, session: DbSession, ctx: Context, principal: ReferralsRead
) -> Response:
    view = await ReferralService(session, ctx.key_wrapper, principal).get(referral_id)
    return model_response(ReferralOut.of(view), headers={"ETag": etag(view.row.version)})


async def _act(
    session: DbSession,
    ctx: Context,
    principal: Principal,
    referral_id: UUID,
    action: Action,
    **kw: str | None,
) -> Response:
    view = await ReferralService(session, ctx.key_wrapper, principal).act(referral_id, action, **kw)
    return model_response(ReferralOut.of(view))


_TRANSITION_ERRORS = problem_responses(409)


@router.post(
    "/{referral_id}/accept",
    response_model=ReferralOut,
    summary="Receiver: accept (joins the care team; takes a place for shelter services)",
    responses=_TRANSITION_ERRORS,
)
async def accept(
    referral_id: UUID,
    session: DbSession,
    ctx: Context,
    principal: ReferralsWrite,
    body: Annotated[AcceptIn | None, Body()] = None,
) -> Response:
    return await _act(session, ctx, principal, referral_id, Action.ACCEPT)


@router.post(
    "/{referral_id}/decline",
    response_model=ReferralOut,
    summary="Receiver: decline (reason required)",
    responses=_TRANSITION_ERRORS,
)
async def decline(
    referral_id: UUID, body: ReasonIn, session: DbSession, ctx: Context, principal: ReferralsWrite
) -> Response:
    return await _act(session, ctx, principal, referral_id, Action.DECLINE, reason=body.reason)


@router.post(
    "/{referral_id}/start",
    response_model=ReferralOut,
    summary="Receiver: service has started",
    responses=_TRANSITION_ERRORS,
)
async def start(
    referral_id: UUID,
    session: DbSession,
    ctx: Context,
    principal: ReferralsWrite,
    body: Annotated[AcceptIn | None, Body()] = None,
) -> Response:
    return await _act(session, ctx, principal, referral_id, Action.START)


@router.post(
    "/{referral_id}/complete",
    response_model=ReferralOut,
    summary="Receiver: completed, with an outcome (leaves the care team)",
    responses=_TRANSITION_ERRORS,
)
async def complete(
    referral_id: UUID, body: OutcomeIn, session: DbSession, ctx: Context, principal: ReferralsWrite
) -> Response:
    return await _act(session, ctx, principal, referral_id, Action.COMPLETE, outcome=body.outcome)


@router.post(
    "/{referral_id}/fail",
    response_model=ReferralOut,
    summary="Receiver: could not be delivered (reason required)",
    responses=_TRANSITION_ERRORS,
)
async def fail(
    referral_id: UUID, body: ReasonIn, session: DbSession, ctx: Context, principal: ReferralsWrite
) -> Response:
    return await _act(session, ctx, principal, referral_id, Action.FAIL, reason=body.reason)


@router.post(
    "/{referral_id}/withdraw",
    response_model=ReferralOut,
    summary="Sender: withdraw (reason required)",
    responses=_TRANSITION_ERRORS,
)
async def withdraw(
    referral_id: UUID, body: ReasonIn, session: DbSession, ctx: Context, principal: ReferralsWrite
) -> Response:
    return await _act(session, ctx, principal, referral_id, Action.WITHDRAW, reason=body.reason)
