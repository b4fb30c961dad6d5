"""The referral state machine and its companions, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.domain.errors import InvalidTransition
from app.domain.referral_rules import (
    Action,
    Party,
    ReferralStatus,
    effective_status,
    holds_capacity,
    transition,
    uncovered_categories,
)
from app.domain.vocabulary import Category, ServiceKind

S = ReferralStatus
ALLOWED = {
    (Action.ACCEPT, S.PENDING): S.ACCEPTED,
    (Action.DECLINE, S.PENDING): S.DECLINED,
    (Action.WITHDRAW, S.PENDING): S.WITHDRAWN,
    (Action.START, S.ACCEPTED): S.IN_PROGRESS,
    (Action.COMPLETE, S.ACCEPTED): S.COMPLETED,
    (Action.FAIL, S.ACCEPTED): S.FAILED,
    (Action.WITHDRAW, S.ACCEPTED): S.WITHDRAWN,
    (Action.COMPLETE, S.IN_PROGRESS): S.COMPLETED,
    (Action.FAIL, S.IN_PROGRESS): S.FAILED,
    (Action.WITHDRAW, S.IN_PROGRESS): S.WITHDRAWN,
}
PARTY = {a: Party.SENDER if a is Action.WITHDRAW else Party.RECEIVER for a in Action}


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("current", list(ReferralStatus))
def test_transition_table(action: Action, current: ReferralStatus) -> None:
    expected = ALLOWED.get((action, current))
    if expected is None:
        with pytest.raises(InvalidTransition):
            transition(action, current, PARTY[action])
    else:
        assert transition(action, current, PARTY[action]).target is expected


@pytest.mark.parametrize("action", list(Action))
def test_only_the_right_party_may_act(action: Action) -> None:
    wrong = Party.RECEIVER if PARTY[action] is Party.SENDER else Party.SENDER
    source = S.PENDING if action in (Action.ACCEPT, Action.DECLINE, Action.WITHDRAW) else S.ACCEPTED
    with pytest.raises(InvalidTransition):
        transition(action, source, wrong)


def test_accepted_lead_transfer_cannot_be_withdrawn() -> None:
    assert transition(Action.WITHDRAW, S.PENDING, Party.SENDER, transfer_lead=True)
    for current in (S.ACCEPTED, S.IN_PROGRESS):
        with pytest.raises(InvalidTransition):
            transition(Action.WITHDRAW, current, Party.SENDER, transfer_lead=True)


def test_effective_status_expires_pending_past_deadline_only() -> None:
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    past, future = now - timedelta(seconds=1), now + timedelta(hours=1)
    assert effective_status(S.PENDING, past, now) is S.EXPIRED
    assert effective_status(S.PENDING, now, now) is S.EXPIRED
    assert effective_status(S.PENDING, future, now) is S.PENDING
    assert effective_status(S.PENDING, None, now) is S.PENDING
    assert effective_status(S.ACCEPTED, past, now) is S.ACCEPTED


def test_uncovered_categories_ignore_demographics() -> None:
    shared = frozenset({Category.DEMOGRAPHICS, Category.MEDICAL, Category.IDENTITY})
    assert uncovered_categories(shared, frozenset()) == [Category.IDENTITY, Category.MEDICAL]
    assert uncovered_categories(shared, frozenset({Category.MEDICAL})) == [Category.IDENTITY]
    assert uncovered_categories(frozenset({Category.DEMOGRAPHICS}), frozenset()) == []


def test_capacity_services() -> None:
    assert holds_capacity(ServiceKind.SHELTER)
    assert holds_capacity(ServiceKind.COMMUNITY_PLACEMENT)
    assert not holds_capacity(ServiceKind.MEDICAL)
