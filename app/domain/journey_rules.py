"""Aftercare-journey rules as pure functions: placements, visits, follow-ups."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from app.domain.errors import ValidationFailed
from app.domain.vocabulary import ExitReason, FollowUpOutcome, PlacementSetting, RiskLevel

VISIT_INTERVAL = timedelta(days=7)
HOME_SETTINGS = frozenset({PlacementSetting.COMMUNITY_FAMILY, PlacementSetting.FOSTER_FAMILY})
_RISK_ORDER = [RiskLevel.LOW, RiskLevel.MEDIUM, RiskLevel.HIGH, RiskLevel.CRITICAL]
_RISK_FLOOR = {
    FollowUpOutcome.AT_RISK: RiskLevel.HIGH,
    FollowUpOutcome.RE_EXPLOITED: RiskLevel.CRITICAL,
}


def needs_home_review(setting: PlacementSetting) -> bool:
    """Community-family and foster placements need an approved home review of the case."""
    return setting in HOME_SETTINGS


def needs_visits(setting: PlacementSetting) -> bool:
    return setting in HOME_SETTINGS


def check_exit(*, is_minor: bool, exit_reason: ExitReason, authorization_ref: str | None) -> None:
    """A minor leaves care other than into another placement only on an authority's decision."""
    if is_minor and exit_reason is not ExitReason.TRANSFERRED and not authorization_ref:
        raise ValidationFailed(
            "A minor's exit other than a transfer needs authorization_ref (the court's or "
            "social-welfare authority's decision)",
            loc=["authorization_ref"],
        )


def days_overdue(last_visit: datetime | None, started_at: datetime, now: datetime) -> int | None:
    """Whole days (rounded up) past the 7-day visit interval; None while a visit is not due."""
    due_at = (last_visit or started_at) + VISIT_INTERVAL
    if now <= due_at:
        return None
    return math.ceil((now - due_at) / timedelta(days=1))


def raised_risk(current: RiskLevel | None, outcome: FollowUpOutcome) -> RiskLevel | None:
    """At-risk raises the case to at least high, re-exploitation to critical; never lowers."""
    floor = _RISK_FLOOR.get(outcome)
    if floor is None:
        return current
    if current is None or _RISK_ORDER.index(current) < _RISK_ORDER.index(floor):
        return floor
    return current


def risk_went_up(before: str | None, after: str | None) -> bool:
    """Whether a case's risk level rose (``low < medium < high < critical``; no level at all is
    below ``low``): what ``case.risk_raised`` announces. Lowering or clearing it is no raise."""
    if after is None:
        return False
    if before is None:
        return True
    return _RISK_ORDER.index(RiskLevel(after)) > _RISK_ORDER.index(RiskLevel(before))
