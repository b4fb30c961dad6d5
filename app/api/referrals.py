"""Referrals (CONTRACT §4 "Referrals"): creation, inboxes, and the state transitions."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import Body, Query
from starlette.responses import Response

from app.api.deps import ReferralsReadCtx, ReferralsWriteCtx
from app.api.idempotency import Created
from app.api.pagination import Paging
from app.api.problems import problem_responses
from app.api.responses import resource_response
from app.api.routes import Routes
from app.api.schemas.referrals import (
    AcceptIn,
    CodedReasonIn,
    OutcomeIn,
    ReasonIn,
    ReferralCreate,
    ReferralOut,
)
from app.domain.pagination import Page
from app.domain.referral_rules import TRANSITIONS, Code, Note, ReferralStatus, Transition
from app.domain.referrals import ReferralService, ReferralView

routes = Routes("referrals", prefix="/v1/referrals")
router = routes.router


@routes.create("", ReferralOut, again=lambda ctx, _, made: ReferralService(ctx).get(made))
async def create_referral(body: ReferralCreate, ctx: ReferralsWriteCtx) -> Created:
    """Refer a survivor to another partner (you must lead the case)"""
    view = await ReferralService(ctx).create(body.to_input())
    return Created(
        ReferralOut.of(view),
        location=f"/v1/referrals/{view.row.id}",
        case_id=view.row.case_id,
    )


@routes.page("", ReferralOut.plain)
async def list_referrals(
    ctx: ReferralsReadCtx,
    paging: Paging,
    direction: Annotated[
        Literal["incoming", "outgoing"] | None, Query(description="Both when omitted")
    ] = None,
    status: ReferralStatus | None = None,
) -> Page[ReferralView]:
    """Your referral inbox and outbox"""
    return await ReferralService(ctx).list(direction=direction, status=status, **paging)


@routes.read("/{referral_id}", ReferralOut.of)
async def get_referral(referral_id: UUID, ctx: ReferralsReadCtx) -> ReferralView:
    """One referral"""
    return await ReferralService(ctx).get(referral_id)


# -- transitions: one route per row of the state machine (app.domain.referral_rules) ----------

# The body each kind of note (and code) comes in; a transition without a note takes an optional
# empty object (not a nullable one: generated clients then send nothing or `{}`).
_NOTE_BODIES: dict[tuple[Note | None, Code | None], Any] = {
    (None, None): Annotated[AcceptIn, Body()],
    (Note.REASON, None): ReasonIn,
    (Note.REASON, Code.REASON_CODE): CodedReasonIn,
    (Note.OUTCOME, Code.OUTCOME_CODE): OutcomeIn,
}
_TRANSITION_ERRORS = problem_responses(409)


def _transition_route(rule: Transition) -> Callable[..., Awaitable[Response]]:
    """``POST /{referral_id}/<action>``: the endpoint, its signature naming the note's body."""
    note = rule.note

    async def endpoint(
        referral_id: UUID,
        ctx: ReferralsWriteCtx,
        body: Any = None,
    ) -> Response:
        text = {note.value: getattr(body, note.value)} if note is not None else {}
        if rule.code is not None:
            text["code"] = str(getattr(body, rule.code.value))
        service = ReferralService(ctx)
        view = await service.act(referral_id, rule.action, **text)
        return resource_response(ReferralOut.of(view))

    # FastAPI reads the body model from the signature: required for a note, else optional.
    signature = inspect.signature(endpoint)
    body = signature.parameters["body"].replace(
        annotation=_NOTE_BODIES[note, rule.code],
        default=AcceptIn() if note is None else inspect.Parameter.empty,
    )
    endpoint.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*list(signature.parameters.values())[:-1], body]
    )
    endpoint.__name__ = endpoint.__qualname__ = rule.action.value
    return endpoint


for _rule in TRANSITIONS.values():
    router.add_api_route(
        f"/{{referral_id}}/{_rule.action.value}",
        _transition_route(_rule),
        methods=["POST"],
        name=_rule.action.value,  # operationId `<action>_v1_referrals__referral_id__<action>_post`
        response_model=ReferralOut,
        summary=_rule.summary,
        responses=_TRANSITION_ERRORS,
    )
