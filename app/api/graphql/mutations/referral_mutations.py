from __future__ import annotations

from uuid import UUID

import strawberry

from app.api.graphql.context import Info
from app.api.graphql.inputs.create_referral_input import CreateReferralInput
from app.api.graphql.inputs.validation import validated
from app.api.graphql.mutations.fields import mutation
from app.api.graphql.types.referral import Referral
from app.api.schemas.referrals import OutcomeIn, ReasonIn, ReferralCreate
from app.domain.referral_rules import Action


async def _act(info: Info, referral_id: UUID, action: Action, **kw: str | None) -> Referral:
    view = await info.context.services.referrals().act(referral_id, action, **kw)
    return Referral.of(view)


def _reason(value: str) -> str:
    return validated(ReasonIn, {"reason": value}).reason


@strawberry.type
class ReferralMutations:
    @mutation(
        "referrals:write",
        description="Refer a survivor to another partner; you must lead the case and every "
        "shared category but demographics needs consent (as `POST /v1/referrals`).",
    )
    async def create_referral(self, info: Info, input: CreateReferralInput) -> Referral | None:
        body = validated(ReferralCreate, input, root=["input"])
        view = await info.context.services.referrals().create(body.to_input())
        return Referral.of(view)

    @mutation("referrals:write", description="Receiver: accept (joins the care team).")
    async def accept_referral(self, info: Info, id: UUID) -> Referral | None:
        return await _act(info, id, Action.ACCEPT)

    @mutation("referrals:write", description="Receiver: decline (reason required).")
    async def decline_referral(self, info: Info, id: UUID, reason: str) -> Referral | None:
        return await _act(info, id, Action.DECLINE, reason=_reason(reason))

    @mutation("referrals:write", description="Receiver: the service has started.")
    async def start_referral(self, info: Info, id: UUID) -> Referral | None:
        return await _act(info, id, Action.START)

    @mutation("referrals:write", description="Receiver: completed, with an outcome.")
    async def complete_referral(self, info: Info, id: UUID, outcome: str) -> Referral | None:
        value = validated(OutcomeIn, {"outcome": outcome}).outcome
        return await _act(info, id, Action.COMPLETE, outcome=value)

    @mutation("referrals:write", description="Receiver: could not be delivered (reason required).")
    async def fail_referral(self, info: Info, id: UUID, reason: str) -> Referral | None:
        return await _act(info, id, Action.FAIL, reason=_reason(reason))

    @mutation("referrals:write", description="Sender: withdraw (reason required).")
    async def withdraw_referral(self, info: Info, id: UUID, reason: str) -> Referral | None:
        return await _act(info, id, Action.WITHDRAW, reason=_reason(reason))
