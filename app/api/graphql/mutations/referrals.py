"""Referral mutations and their input: creating a referral, and one mutation per transition
of the state machine."""

from __future__ import annotations

import inspect
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import strawberry

from app.api.graphql.context import Info
from app.api.graphql.errors import validated
from app.api.graphql.field_extensions import mutation
from app.api.graphql.idempotency import IdempotencyKey, once
from app.api.graphql.types.case import Referral
from app.api.graphql.types.enums import Category, OutcomeCode, ReasonCode, ServiceKind, Urgency
from app.api.schemas.common import RequestModel
from app.api.schemas.referrals import CodedReasonIn, OutcomeIn, ReasonIn, ReferralCreate
from app.domain.referral_rules import TRANSITIONS, Code, Note, Transition

T = TypeVar("T")


@strawberry.input(description="A referral: the same fields and rules as `POST /v1/referrals`")
class CreateReferralInput:
    case_id: UUID
    to_org_id: UUID
    service: ServiceKind
    urgency: Urgency
    reason: str
    shared_categories: list[Category] | None = strawberry.field(
        default=None,
        description="Default [demographics]. Every category but demographics needs an active "
        "consent for the recipient",
    )
    respond_by: datetime | None = None
    transfer_lead: bool | None = strawberry.field(default=None, description="Default false")


# The request model each kind of note (and code) is validated with (as the REST body is).
_NOTE_MODELS: dict[tuple[Note, Code | None], type[RequestModel]] = {
    (Note.REASON, None): ReasonIn,
    (Note.REASON, Code.REASON_CODE): CodedReasonIn,
    (Note.OUTCOME, Code.OUTCOME_CODE): OutcomeIn,
}
# The GraphQL argument each code is given as (optional: the default when left out).
_CODE_ARGS: dict[Code, Any] = {
    Code.REASON_CODE: ReasonCode | None,
    Code.OUTCOME_CODE: OutcomeCode | None,
}


def _transition_mutation(rule: Transition) -> Any:
    """``<action>Referral(id, <note>)``: the mutation of one row of the state machine
    (app.domain.referral_rules), taking the row's note (if any) as a required string."""
    note = rule.note

    async def resolve(self: Any, info: Info, id: UUID, **given: Any) -> Referral | None:
        notes: dict[str, str] = {}
        if note is not None:
            fields = {k: v for k, v in given.items() if v is not None}
            body = validated(_NOTE_MODELS[note, rule.code], fields)
            notes[note.value] = getattr(body, note.value)
            if rule.code is not None:
                notes["code"] = str(getattr(body, rule.code.value))
        view = await info.context.services.referrals().act(id, rule.action, **notes)
        return Referral.of(view)

    # Strawberry reads the arguments from the signature: `id`, then the note and its code.
    signature = inspect.signature(resolve)
    params = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    if note is not None:
        params.append(inspect.Parameter(note.value, inspect.Parameter.KEYWORD_ONLY, annotation=str))
    if rule.code is not None:
        params.append(
            inspect.Parameter(
                rule.code.value,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=_CODE_ARGS[rule.code],
                default=None,
            )
        )
    resolve.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    resolve.__name__ = resolve.__qualname__ = f"{rule.action.value}_referral"
    return mutation("referrals:write", description=rule.description)(resolve)


def _with_transitions(cls: type[T]) -> type[T]:
    """Adds one mutation per transition, in the table's order."""
    for rule in TRANSITIONS.values():
        setattr(cls, f"{rule.action.value}_referral", _transition_mutation(rule))
    return cls


@strawberry.type
@_with_transitions
class ReferralMutations:
    @mutation("referrals:write")
    async def create_referral(
        self, info: Info, input: CreateReferralInput, idempotency_key: IdempotencyKey = None
    ) -> Referral | None:
        """Refer a survivor to another partner; you must lead the case and every shared category
        but demographics needs consent (as `POST /v1/referrals`)."""
        body = validated(ReferralCreate, input, root=["input"])
        referrals = info.context.services.referrals()
        view = await once(
            info,
            idempotency_key,
            {"input": input},
            make=lambda: referrals.create(body.to_input()),
            ids=lambda view: (view.row.id, view.row.case_id),
            again=referrals.get,
            read_scope="referrals:read",
        )
        return Referral.of(view)
