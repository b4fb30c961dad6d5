"""Placement, visit and follow-up rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.domain.errors import ValidationFailed
from app.domain.journey_rules import (
    check_exit,
    days_overdue,
    needs_home_review,
    needs_visits,
    raised_risk,
)
from app.domain.vocabulary import ExitReason, FollowUpOutcome, PlacementSetting, RiskLevel

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


@pytest.mark.parametrize("setting", list(PlacementSetting))
def test_home_review_and_visits_for_home_settings_only(setting: PlacementSetting) -> None:
    home = setting in (PlacementSetting.COMMUNITY_FAMILY, PlacementSetting.FOSTER_FAMILY)
    assert needs_home_review(setting) is home
    assert needs_visits(setting) is home


@pytest.mark.parametrize("reason", list(ExitReason))
def test_minor_exit_needs_authorisation_unless_transferred(reason: ExitReason) -> None:
    check_exit(is_minor=False, exit_reason=reason, authorization_ref=None)
    check_exit(is_minor=True, exit_reason=reason, authorization_ref="Court order 17/2026")
    if reason is ExitReason.TRANSFERRED:
        check_exit(is_minor=True, exit_reason=reason, authorization_ref=None)
    else:
        with pytest.raises(ValidationFailed) as exc:
            check_exit(is_minor=True, exit_reason=reason, authorization_ref=None)
        assert exc.value.where == "body"
        assert exc.value.extra["errors"][0]["loc"] == ["authorization_ref"]


def test_overdue_at_the_seven_day_boundary() -> None:
    week = timedelta(days=7)
    start = NOW - timedelta(days=30)
    assert days_overdue(NOW - week + timedelta(seconds=1), start, NOW) is None
    assert days_overdue(NOW - week, start, NOW) is None  # exactly 7 days: due now, not overdue
    assert days_overdue(NOW - week - timedelta(seconds=1), start, NOW) == 1
    assert days_overdue(NOW - week - timedelta(days=1), start, NOW) == 1
    assert days_overdue(NOW - week - timedelta(days=1, seconds=1), start, NOW) == 2
    # No visit yet: counted from the start of the placement.
    assert days_overdue(None, NOW - timedelta(days=3), NOW) is None
    assert days_overdue(None, NOW - timedelta(days=10), NOW) == 3


@pytest.mark.parametrize(
    ("current", "outcome", "expected"),
    [
        (None, FollowUpOutcome.STABLE, None),
        (RiskLevel.LOW, FollowUpOutcome.STABLE, RiskLevel.LOW),
        (None, FollowUpOutcome.AT_RISK, RiskLevel.HIGH),
        (RiskLevel.LOW, FollowUpOutcome.AT_RISK, RiskLevel.HIGH),
        (RiskLevel.CRITICAL, FollowUpOutcome.AT_RISK, RiskLevel.CRITICAL),
        (RiskLevel.HIGH, FollowUpOutcome.RE_EXPLOITED, RiskLevel.CRITICAL),
        (RiskLevel.MEDIUM, FollowUpOutcome.LOST_CONTACT, RiskLevel.MEDIUM),
    ],
)
def test_risk_only_rises(
    current: RiskLevel | None, outcome: FollowUpOutcome, expected: RiskLevel | None
) -> None:
    assert raised_risk(current, outcome) == expected
