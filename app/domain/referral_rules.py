"""Referral rules as pure functions: the state machine, expiry, consent and capacity.

    pending ──accept──▶ accepted ──start──▶ in_progress
       │                   │  │                 │  │
       │                   │  └──complete/fail──┼──┴──▶ completed | failed
       ├──decline──▶ declined                   │
       ├──withdraw─▶ withdrawn ◀──withdraw──────┘ (and from accepted)
       └──(respond_by passes)──▶ expired

The receiver accepts, declines, starts, completes and fails; the sender withdraws. Every
transition also depends on the case (``check_case``): it must be open, and its lead must still be
the one the referral was made by (or, for an accepted lead transfer, the one it made). When the case
closes or its lead changes the hub withdraws every pending referral (``HubWithdrawal``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from app.domain.errors import InvalidTransition
from app.domain.vocabulary import Category, ServiceKind


class ReferralStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"


class Party(StrEnum):
    SENDER = "sender"
    RECEIVER = "receiver"


class Action(StrEnum):
    ACCEPT = "accept"
    DECLINE = "decline"
    START = "start"
    COMPLETE = "complete"
    FAIL = "fail"
    WITHDRAW = "withdraw"


class Note(StrEnum):
    """The free text a transition requires (stored encrypted as ``<note>_enc``)."""

    REASON = "reason"
    OUTCOME = "outcome"


class Code(StrEnum):
    """The coded outcome a transition records beside its free text (CONTRACT "Referral
    outcomes (coded)"): countable, where the text is not."""

    REASON_CODE = "reason_code"
    OUTCOME_CODE = "outcome_code"


class ReasonCode(StrEnum):
    """Why a referral was declined or failed."""

    NO_CAPACITY = "no_capacity"
    NOT_ELIGIBLE = "not_eligible"
    UNABLE_TO_CONTACT = "unable_to_contact"
    SURVIVOR_DECLINED = "survivor_declined"
    SERVICE_UNAVAILABLE = "service_unavailable"
    LOST_CONTACT = "lost_contact"
    OTHER = "other"


class OutcomeCode(StrEnum):
    """How a completed referral ended."""

    SERVICE_PROVIDED = "service_provided"
    GOAL_ACHIEVED = "goal_achieved"
    PARTIALLY_ACHIEVED = "partially_achieved"
    REFERRED_ELSEWHERE = "referred_elsewhere"


# What a transition records when its code is left out (older clients send only the text).
DEFAULT_CODES: dict[Code, str] = {
    Code.REASON_CODE: ReasonCode.OTHER,
    Code.OUTCOME_CODE: OutcomeCode.SERVICE_PROVIDED,
}


S = ReferralStatus


@dataclass(frozen=True, slots=True)
class Transition:
    """One action of the state machine. Each row is also one REST route
    (``POST /v1/referrals/{id}/<action>``, titled ``summary``) and one GraphQL mutation
    (``<action>Referral``, described by ``description``), both taking ``note`` when it is set
    (see app.api.referrals and app.api.graphql.mutations.referral_mutations)."""

    action: Action
    sources: frozenset[ReferralStatus]
    target: ReferralStatus
    party: Party
    note: Note | None
    summary: str
    description: str
    code: Code | None = None  # recorded beside the note; DEFAULT_CODES when left out


TRANSITIONS: dict[Action, Transition] = {
    t.action: t
    for t in (
        Transition(
            Action.ACCEPT,
            frozenset({S.PENDING}),
            S.ACCEPTED,
            Party.RECEIVER,
            None,
            summary="Receiver: accept (joins the care team; takes a place for shelter services)",
            description="Receiver: accept (joins the care team).",
        ),
        Transition(
            Action.DECLINE,
            frozenset({S.PENDING}),
            S.DECLINED,
            Party.RECEIVER,
            Note.REASON,
            summary="Receiver: decline (reason required; `reason_code` default `other`)",
            description="Receiver: decline (reason required; `reasonCode` default `other`).",
            code=Code.REASON_CODE,
        ),
        Transition(
            Action.START,
            frozenset({S.ACCEPTED}),
            S.IN_PROGRESS,
            Party.RECEIVER,
            None,
            summary="Receiver: service has started",
            description="Receiver: the service has started.",
        ),
        Transition(
            Action.COMPLETE,
            frozenset({S.ACCEPTED, S.IN_PROGRESS}),
            S.COMPLETED,
            Party.RECEIVER,
            Note.OUTCOME,
            summary="Receiver: completed, with an outcome (leaves the care team; `outcome_code` "
            "default `service_provided`)",
            description="Receiver: completed, with an outcome (`outcomeCode` default "
            "`service_provided`).",
            code=Code.OUTCOME_CODE,
        ),
        Transition(
            Action.FAIL,
            frozenset({S.ACCEPTED, S.IN_PROGRESS}),
            S.FAILED,
            Party.RECEIVER,
            Note.REASON,
            summary="Receiver: could not be delivered (reason required; `reason_code` default "
            "`other`)",
            description="Receiver: could not be delivered (reason required; `reasonCode` default "
            "`other`).",
            code=Code.REASON_CODE,
        ),
        Transition(
            Action.WITHDRAW,
            frozenset({S.PENDING, S.ACCEPTED, S.IN_PROGRESS}),
            S.WITHDRAWN,
            Party.SENDER,
            Note.REASON,
            summary="Sender: withdraw (reason required)",
            description="Sender: withdraw (reason required).",
        ),
    )
}

ACTIVE = frozenset({S.ACCEPTED, S.IN_PROGRESS})
TERMINAL = frozenset({S.DECLINED, S.WITHDRAWN, S.EXPIRED, S.COMPLETED, S.FAILED})
CAPACITY_SERVICES = frozenset({ServiceKind.SHELTER, ServiceKind.COMMUNITY_PLACEMENT})


def effective_status(
    status: ReferralStatus, respond_by: datetime | None, now: datetime
) -> ReferralStatus:
    """A pending referral whose deadline has passed reads as expired, stored or not."""
    if status is S.PENDING and respond_by is not None and respond_by <= now:
        return S.EXPIRED
    return status


def transition(
    action: Action, current: ReferralStatus, party: Party, *, transfer_lead: bool = False
) -> Transition:
    """The transition ``party`` may make with ``action`` from ``current``, or 409."""
    rule = TRANSITIONS[action]
    if party is not rule.party:
        raise InvalidTransition(f"Only the {rule.party.value} may {action.value} a referral")
    if current not in rule.sources:
        raise InvalidTransition(
            f"The referral is {current.value.replace('_', ' ')}; "
            f"it cannot be {rule.target.value.replace('_', ' ')}"
        )
    if action is Action.WITHDRAW and transfer_lead and current in ACTIVE:
        # The case already moved to the receiver; the new lead ends this referral.
        raise InvalidTransition("An accepted lead transfer cannot be withdrawn")
    return rule


def ends_care(current: ReferralStatus, rule: Transition) -> bool:
    """The transition takes an active referral out of the care team (complete, fail, withdraw)."""
    return current in ACTIVE and rule.target not in ACTIVE


def expected_lead(
    *, from_org_id: UUID, to_org_id: UUID, transfer_lead: bool, current: ReferralStatus
) -> UUID:
    """Who must lead the case for the referral to be acted on: its sender, except that an
    accepted lead transfer made its receiver the lead."""
    return to_org_id if transfer_lead and current in ACTIVE else from_org_id


def check_case(
    rule: Transition, current: ReferralStatus, *, case_open: bool, lead_unchanged: bool
) -> None:
    """Whether the case still allows ``rule`` (409 otherwise); ``lead_unchanged`` says the case is
    led by :func:`expected_lead`.

    - A referral whose sender no longer leads the case is frozen, with one exception: the receiver
      may still complete or fail an active one. That closes the loop and takes the receiver off the
      care team (and gives back its place); nobody else could, since the former lead may not
      withdraw it and the new lead is no party to it.
    - On a closed case, only ending an active referral (complete, fail, the lead's withdraw) is
      allowed: nothing new starts on a closed case.
    """
    ending = ends_care(current, rule)
    if not lead_unchanged and not (ending and rule.party is Party.RECEIVER):
        raise InvalidTransition("The referral's sender no longer leads the case")
    if not case_open and not ending:
        raise InvalidTransition("The case is closed")


class HubWithdrawal(StrEnum):
    """Why the hub itself withdrew a pending referral (stored as its ``status_reason``: fixed
    text, never survivor data)."""

    CASE_CLOSED = "Withdrawn by the hub: the case was closed"
    LEAD_CHANGED = "Withdrawn by the hub: the case's lead changed"


def uncovered_categories(
    shared: frozenset[Category], covered: frozenset[Category]
) -> list[Category]:
    """Categories a referral would share without consent (demographics never needs one)."""
    return sorted((shared - {Category.DEMOGRAPHICS}) - covered, key=list(Category).index)


def holds_capacity(service: ServiceKind) -> bool:
    return service in CAPACITY_SERVICES
