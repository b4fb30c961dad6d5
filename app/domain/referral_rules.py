"""Referral rules as pure functions: the state machine, expiry, consent and capacity.

    pending ──accept──▶ accepted ──start──▶ in_progress
       │                   │  │                 │  │
       │                   │  └──complete/fail──┼──┴──▶ completed | failed
       ├──decline──▶ declined                   │
       ├──withdraw─▶ withdrawn ◀──withdraw──────┘ (and from accepted)
       └──(respond_by passes)──▶ expired

The receiver accepts, declines, starts, completes and fails; the sender withdraws.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

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


S = ReferralStatus


@dataclass(frozen=True, slots=True)
class Transition:
    action: Action
    sources: frozenset[ReferralStatus]
    target: ReferralStatus
    party: Party


TRANSITIONS: dict[Action, Transition] = {
    t.action: t
    for t in (
        Transition(Action.ACCEPT, frozenset({S.PENDING}), S.ACCEPTED, Party.RECEIVER),
        Transition(Action.DECLINE, frozenset({S.PENDING}), S.DECLINED, Party.RECEIVER),
        Transition(Action.START, frozenset({S.ACCEPTED}), S.IN_PROGRESS, Party.RECEIVER),
        Transition(
            Action.COMPLETE, frozenset({S.ACCEPTED, S.IN_PROGRESS}), S.COMPLETED, Party.RECEIVER
        ),
        Transition(Action.FAIL, frozenset({S.ACCEPTED, S.IN_PROGRESS}), S.FAILED, Party.RECEIVER),
        Transition(
            Action.WITHDRAW,
            frozenset({S.PENDING, S.ACCEPTED, S.IN_PROGRESS}),
            S.WITHDRAWN,
            Party.SENDER,
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
            f"The referral is {current.value.replace('_', ' ')}; it cannot be {rule.target.value}"
        )
    if action is Action.WITHDRAW and transfer_lead and current in ACTIVE:
        # The case already moved to the receiver; the new lead ends this referral.
        raise InvalidTransition("An accepted lead transfer cannot be withdrawn")
    return rule


def uncovered_categories(
    shared: frozenset[Category], covered: frozenset[Category]
) -> list[Category]:
    """Categories a referral would share without consent (demographics never needs one)."""
    return sorted((shared - {Category.DEMOGRAPHICS}) - covered, key=list(Category).index)


def holds_capacity(service: ServiceKind) -> bool:
    return service in CAPACITY_SERVICES
