"""Care-plan rules as pure functions: goal and service-record status tables, and which times a
service record's status needs.

Goals (FHIR Goal's lifecycle, simplified)::

    active ◀──▶ on_hold
      │            │
      └──────┬─────┘
             ▼
    achieved | not_achieved | cancelled     (final: nothing moves a final goal)

A progress entry may keep the status (a note on the way); on a final goal any entry is refused.

Service records::

    scheduled ──▶ attended ──▶ completed
        │
        ├──▶ missed | cancelled | completed     (final)

An edit that keeps the status (notes, the time it occurred) is allowed in any status; changing a
final status is refused.
"""

from __future__ import annotations

from datetime import datetime

from app.domain.errors import InvalidTransition, ValidationFailed
from app.domain.vocabulary import GoalStatus, ServiceStatus

G = GoalStatus
GOAL_TRANSITIONS: dict[GoalStatus, frozenset[GoalStatus]] = {
    G.ACTIVE: frozenset({G.ACTIVE, G.ON_HOLD, G.ACHIEVED, G.NOT_ACHIEVED, G.CANCELLED}),
    G.ON_HOLD: frozenset({G.ON_HOLD, G.ACTIVE, G.ACHIEVED, G.NOT_ACHIEVED, G.CANCELLED}),
    G.ACHIEVED: frozenset(),
    G.NOT_ACHIEVED: frozenset(),
    G.CANCELLED: frozenset(),
}
FINAL_GOAL_STATUSES = frozenset(s for s, targets in GOAL_TRANSITIONS.items() if not targets)

S = ServiceStatus
SERVICE_TRANSITIONS: dict[ServiceStatus, frozenset[ServiceStatus]] = {
    S.SCHEDULED: frozenset({S.ATTENDED, S.MISSED, S.CANCELLED, S.COMPLETED}),
    S.ATTENDED: frozenset({S.COMPLETED}),
    S.MISSED: frozenset(),
    S.CANCELLED: frozenset(),
    S.COMPLETED: frozenset(),
}
FINAL_SERVICE_STATUSES = frozenset(s for s, targets in SERVICE_TRANSITIONS.items() if not targets)
# What the care plan counts per category.
ATTENDED = frozenset({S.ATTENDED, S.COMPLETED})
MISSED = frozenset({S.MISSED})

# A goal's history is bounded so that a goal has a bounded size (GraphQL's size bound relies on
# it): at most 50 entries of at most 1,000 characters each.
MAX_PROGRESS_ENTRIES = 50


def goal_may_move(current: GoalStatus, target: GoalStatus) -> bool:
    return target in GOAL_TRANSITIONS[current]


def check_goal_progress(current: GoalStatus, target: GoalStatus, entries: int) -> None:
    """A progress entry moving a goal from ``current`` to ``target`` (409 when not allowed)."""
    if current in FINAL_GOAL_STATUSES:
        raise InvalidTransition(f"The goal is {current.value}; a final goal does not change")
    if not goal_may_move(current, target):
        raise InvalidTransition(f"A goal cannot move from {current.value} to {target.value}")
    if entries >= MAX_PROGRESS_ENTRIES:
        raise InvalidTransition(
            f"A goal holds at most {MAX_PROGRESS_ENTRIES} progress entries; "
            "close it and open a new one"
        )


def service_may_move(current: ServiceStatus, target: ServiceStatus) -> bool:
    return target == current or target in SERVICE_TRANSITIONS[current]


def check_service_move(current: ServiceStatus, target: ServiceStatus) -> None:
    if not service_may_move(current, target):
        raise InvalidTransition(
            f"A service record cannot move from {current.value} to {target.value}"
        )


def check_service_times(
    status: ServiceStatus, scheduled_at: datetime | None, occurred_at: datetime | None
) -> None:
    """The times a status needs: a scheduled or missed service has ``scheduled_at``; an attended
    or completed one ``occurred_at``; a scheduled one has not occurred yet."""
    if status in (S.SCHEDULED, S.MISSED) and scheduled_at is None:
        raise ValidationFailed(
            f"A service that is {status.value} needs scheduled_at", loc=["scheduled_at"]
        )
    if status in (S.ATTENDED, S.COMPLETED) and occurred_at is None:
        raise ValidationFailed(
            f"A service that is {status.value} needs occurred_at", loc=["occurred_at"]
        )
    if status is S.SCHEDULED and occurred_at is not None:
        raise ValidationFailed(
            "A scheduled service has not occurred yet: leave occurred_at out",
            loc=["occurred_at"],
        )
