"""The change feed's shapes (CONTRACT "Events and webhooks")."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from app.api.schemas.common import ViewWith
from app.domain.events import EventType, EventView


class SubjectOut(BaseModel):
    type: str = Field(description="What the event is about: case, referral, consent, …")
    id: UUID


class EventOut(BaseModel):
    """An event. It carries ids, statuses, codes, category names and versions only: fetch the
    resource to see what changed (the access policy applies again then)."""

    id: UUID = Field(description="Unique per recipient; also the webhook-id of its deliveries")
    type: EventType
    occurred_at: datetime
    subject: SubjectOut
    case_id: UUID | None
    data: dict[str, Any]

    @staticmethod
    def source(view: EventView) -> ViewWith:
        """The view as the model's fields: its subject's type and id as one object."""
        return ViewWith(view, subject={"type": view.subject_type, "id": view.subject_id})

    @classmethod
    def of(cls, view: EventView) -> EventOut:
        return cls.model_validate(cls.source(view), from_attributes=True)

    @staticmethod
    def plain(view: EventView) -> dict[str, Any]:
        """What :meth:`of`'s model serialises to, as a dict for orjson (the same keys in the
        same order): a feed page is answered from these, without a model validated and
        serialised per event; ``tests/unit/test_plain_responses.py`` holds the two together."""
        # Ids as text: asyncpg's UUID class would go through the response's `default` hook.
        case_id = view.case_id
        return {
            "id": str(view.id),
            "type": view.type,
            "occurred_at": view.occurred_at,
            "subject": {"type": view.subject_type, "id": str(view.subject_id)},
            "case_id": str(case_id) if case_id is not None else None,
            "data": view.data,
        }


class EventPageOut(BaseModel):
    items: list[EventOut]
    next_cursor: str = Field(
        description="Never null: pass it as `after` to get what comes next (also after an "
        "empty page)"
    )
