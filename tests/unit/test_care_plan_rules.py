"""Care-plan rules: the goal and service-record status tables and the times a status needs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.db import tables
from app.domain.care_plan_rules import (
    FINAL_GOAL_STATUSES,
    FINAL_SERVICE_STATUSES,
    MAX_PROGRESS_ENTRIES,
    check_goal_progress,
    check_service_move,
    check_service_times,
    goal_may_move,
    service_may_move,
)
from app.domain.errors import InvalidTransition, ValidationFailed
from app.domain.vocabulary import (
    CarePlanCategory,
    GoalStatus,
    ServiceStatus,
    ServiceType,
)

G, S = GoalStatus, ServiceStatus
AT = datetime(2026, 11, 30, 9, tzinfo=UTC)


def test_final_goal_statuses() -> None:
    assert {G.ACHIEVED, G.NOT_ACHIEVED, G.CANCELLED} == FINAL_GOAL_STATUSES


@pytest.mark.parametrize("current", list(GoalStatus))
@pytest.mark.parametrize("target", list(GoalStatus))
def test_goal_table(current: GoalStatus, target: GoalStatus) -> None:
    allowed = current not in FINAL_GOAL_STATUSES
    assert goal_may_move(current, target) is allowed
    if allowed:
        check_goal_progress(current, target, entries=0)
    else:
        with pytest.raises(InvalidTransition):
            check_goal_progress(current, target, entries=0)


def test_a_goal_history_is_bounded() -> None:
    check_goal_progress(G.ACTIVE, G.ACTIVE, entries=MAX_PROGRESS_ENTRIES - 1)
    with pytest.raises(InvalidTransition):
        check_goal_progress(G.ACTIVE, G.ACTIVE, entries=MAX_PROGRESS_ENTRIES)


SERVICE_MOVES = {
    (S.SCHEDULED, S.ATTENDED),
    (S.SCHEDULED, S.MISSED),
    (S.SCHEDULED, S.CANCELLED),
    (S.SCHEDULED, S.COMPLETED),
    (S.ATTENDED, S.COMPLETED),
}


@pytest.mark.parametrize("current", list(ServiceStatus))
@pytest.mark.parametrize("target", list(ServiceStatus))
def test_service_table(current: ServiceStatus, target: ServiceStatus) -> None:
    allowed = current == target or (current, target) in SERVICE_MOVES
    assert service_may_move(current, target) is allowed
    if allowed:
        check_service_move(current, target)
    else:
        with pytest.raises(InvalidTransition):
            check_service_move(current, target)


def test_final_service_statuses() -> None:
    assert {S.MISSED, S.CANCELLED, S.COMPLETED} == FINAL_SERVICE_STATUSES


@pytest.mark.parametrize(
    ("status", "scheduled_at", "occurred_at", "field"),
    [
        (S.SCHEDULED, None, None, "scheduled_at"),
        (S.SCHEDULED, AT, AT, "occurred_at"),
        (S.MISSED, None, None, "scheduled_at"),
        (S.ATTENDED, AT, None, "occurred_at"),
        (S.COMPLETED, None, None, "occurred_at"),
    ],
)
def test_times_a_status_needs(
    status: ServiceStatus, scheduled_at: datetime | None, occurred_at: datetime | None, field: str
) -> None:
    with pytest.raises(ValidationFailed) as exc:
        check_service_times(status, scheduled_at, occurred_at)
    assert exc.value.extra["errors"][0]["loc"] == [field]


@pytest.mark.parametrize(
    ("status", "scheduled_at", "occurred_at"),
    [
        (S.SCHEDULED, AT, None),
        (S.MISSED, AT, None),
        (S.ATTENDED, None, AT),
        (S.COMPLETED, AT, AT),
        (S.CANCELLED, None, None),
    ],
)
def test_times_that_fit(
    status: ServiceStatus, scheduled_at: datetime | None, occurred_at: datetime | None
) -> None:
    check_service_times(status, scheduled_at, occurred_at)


def test_database_vocabularies_match_the_domain() -> None:
    assert set(tables.GOAL_STATUSES) == {s.value for s in GoalStatus}
    assert set(tables.SERVICE_STATUSES) == {s.value for s in ServiceStatus}
    assert set(tables.SERVICE_TYPES) == {t.value for t in ServiceType}
    assert set(tables.CARE_PLAN_CATEGORIES) == {c.value for c in CarePlanCategory}


def test_care_plan_views_have_the_response_models_fields_in_order() -> None:
    """The care plan is answered straight from the domain's dataclasses (orjson), so each has
    exactly its response model's fields, in the same order."""
    import dataclasses

    from app.api.schemas import care_plan as out
    from app.domain import care_plan as views

    for view, model in (
        (views.CarePlan, out.CarePlanOut),
        (views.Goal, out.GoalOut),
        (views.ProgressEntry, out.ProgressOut),
        (views.ServiceRecord, out.ServiceOut),
        (views.ServiceCode, out.CodeOut),
        (views.Attendance, out.AttendanceOut),
    ):
        assert [f.name for f in dataclasses.fields(view)] == list(model.model_fields), view
