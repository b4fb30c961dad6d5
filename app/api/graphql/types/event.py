"""The change feed's events, as `GET /v1/events` gives them (CONTRACT "Events and webhooks")."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import strawberry

from app.api.graphql.connections import Connection, Edge, PageInfo
from app.api.graphql.types.projection import Projected, from_model
from app.api.schemas.events import EventOut, SubjectOut
from app.domain.events import EVENT_LIST, EventView
from app.domain.pagination import Page


@strawberry.enum(description="What happened (the contract's type, with `_` for `.`)")
class EventType(StrEnum):
    """The contract's event types; GraphQL names may not contain dots, so `referral.created`
    is `referral_created` here (the values are the contract's, kept in step by a test)."""

    referral_created = "referral.created"
    referral_accepted = "referral.accepted"
    referral_declined = "referral.declined"
    referral_started = "referral.started"
    referral_completed = "referral.completed"
    referral_failed = "referral.failed"
    referral_withdrawn = "referral.withdrawn"
    referral_expired = "referral.expired"
    case_updated = "case.updated"
    case_update_added = "case.update_added"
    case_access_granted = "case.access_granted"
    case_access_revoked = "case.access_revoked"
    case_lead_transferred = "case.lead_transferred"
    case_closed = "case.closed"
    case_identity_erased = "case.identity_erased"
    consent_revoked = "consent.revoked"
    case_risk_raised = "case.risk_raised"
    goal_created = "goal.created"
    goal_updated = "goal.updated"
    service_created = "service.created"
    service_updated = "service.updated"
    follow_up_recorded = "follow_up.recorded"
    placement_visit_overdue = "placement.visit_overdue"
    webhook_disabled = "webhook.disabled"
    webhook_test = "webhook.test"


@from_model(SubjectOut, description="What an event is about")
class EventSubject(Projected):
    type: str = strawberry.field(description="case, case_update, consent, referral, …")


@from_model(
    EventOut,
    description="Something that happened to a resource you may see. It carries ids, statuses, "
    "codes, category names and versions only: read the resource to see what changed.",
    descriptions={"id": None, "data": "Ids, statuses, codes and categories only"},
)
class Event(Projected):
    type: EventType

    @classmethod
    def of(cls, source: EventView) -> Event:
        return super().of(EventOut.source(source))


_END = object()  # stands for "where the feed continues", which may lie past the last event


def event_connection(page: Page[EventView], *, first: int, after: str | None) -> Connection[Event]:
    """A feed page as a connection. The feed's ``next_cursor`` is never null, so ``endCursor``
    is always set (pass it as ``after`` to continue, also after an empty page) and
    ``hasNextPage`` says whether more events were already waiting."""
    end = page.next_cursor or ""

    def cursor_of(item: Any) -> str:
        return end if item is _END else EVENT_LIST.cursor(item)

    items = page.items
    return Connection(
        edges=[Edge(node=Event.of(item), item=item, cursor_of=cursor_of) for item in items],
        page_info=PageInfo(
            has_next_page=len(items) == first,
            has_previous_page=after is not None,
            first=items[0] if items else None,
            last=_END,
            cursor_of=cursor_of,
        ),
    )
