"""The referral state machine and its companions, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from app.domain.errors import InvalidTransition
from app.domain.referral_rules import (
    Action,
    Party,
    ReferralStatus,
    check_case,
    effective_status,
    expected_lead,
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


ENDING = {(Action.COMPLETE, S.ACCEPTED), (Action.FAIL, S.ACCEPTED), (Action.WITHDRAW, S.ACCEPTED),
          (Action.COMPLETE, S.IN_PROGRESS), (Action.FAIL, S.IN_PROGRESS),
          (Action.WITHDRAW, S.IN_PROGRESS)}  # fmt: skip


@pytest.mark.parametrize(("action", "current"), sorted(ALLOWED))
def test_open_case_led_by_the_sender_allows_everything(action: Action, current: S) -> None:
    rule = transition(action, current, PARTY[action])
    check_case(rule, current, case_open=True, lead_unchanged=True)


@pytest.mark.parametrize(("action", "current"), sorted(ALLOWED))
def test_after_a_lead_change_only_the_receiver_may_end_an_active_referral(
    action: Action, current: S
) -> None:
    rule = transition(action, current, PARTY[action])
    if (action, current) in ENDING and PARTY[action] is Party.RECEIVER:
        check_case(rule, current, case_open=True, lead_unchanged=False)
    else:
        with pytest.raises(InvalidTransition, match="no longer leads"):
            check_case(rule, current, case_open=True, lead_unchanged=False)


@pytest.mark.parametrize(("action", "current"), sorted(ALLOWED))
def test_a_closed_case_only_ends_active_referrals(action: Action, current: S) -> None:
    rule = transition(action, current, PARTY[action])
    if (action, current) in ENDING:
        check_case(rule, current, case_open=False, lead_unchanged=True)
    else:
        with pytest.raises(InvalidTransition, match="closed"):
            check_case(rule, current, case_open=False, lead_unchanged=True)


def test_expected_lead_is_the_sender_until_a_transfer_is_accepted() -> None:
    sender, receiver = uuid4(), uuid4()
    for current in ReferralStatus:
        assert (
            expected_lead(
                from_org_id=sender, to_org_id=receiver, transfer_lead=False, current=current
            )
            == sender
        )
        moved = current in (S.ACCEPTED, S.IN_PROGRESS)
        assert expected_lead(
            from_org_id=sender, to_org_id=receiver, transfer_lead=True, current=current
        ) == (receiver if moved else sender)


@pytest.mark.parametrize(
    ("action", "current", "party", "message"),
    [
        (Action.ACCEPT, ReferralStatus.DECLINED, Party.RECEIVER, "declined; it cannot be accepted"),
        (Action.START, ReferralStatus.PENDING, Party.RECEIVER, "pending; it cannot be in progress"),
        (Action.COMPLETE, ReferralStatus.FAILED, Party.RECEIVER, "failed; it cannot be completed"),
    ],
)
def test_a_refused_transition_says_so_in_words(
    action: Action, current: ReferralStatus, party: Party, message: str
) -> None:
    with pytest.raises(InvalidTransition) as refused:
        transition(action, current, party)
    assert str(refused.value.detail) == f"The referral is {message}"
