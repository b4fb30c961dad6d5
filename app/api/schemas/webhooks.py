"""Webhook subscriptions' shapes (CONTRACT "Events and webhooks")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, StringConstraints

from app.api.schemas.common import RequestModel, ResponseModel
from app.domain.events import EventType
from app.domain.webhook_targets import MAX_URL_LENGTH
from app.domain.webhooks import (
    MAX_EVENT_TYPES,
    CreatedWebhook,
    DeliveryRow,
    LogEntry,
    Ping,
    RotatedSecret,
    Webhook,
    WebhookChange,
    WebhookInput,
    WebhookStatus,
)

Url = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_URL_LENGTH),
    Field(
        description="Where events are POSTed: https (http only outside production), a public "
        "address; stored as checked (normalised)",
        examples=["https://partner.example.org/aftercare/webhooks"],
    ),
]
EventTypeName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64),
    Field(json_schema_extra={"enum": ["*", *(t.value for t in EventType)]}),
]
EventTypes = Annotated[
    list[EventTypeName],
    Field(
        min_length=1,
        max_length=MAX_EVENT_TYPES,
        description='Event types to receive; `["*"]` for every type',
        examples=[["referral.created", "referral.accepted"]],
    ),
]
Description = Annotated[str, StringConstraints(min_length=1, max_length=500)]
_SHOWN_ONCE = (
    "The signing secret (`whsec_…`): shown in this answer only, never again. Keep it to "
    "verify `webhook-signature` (Standard Webhooks)."
)


class WebhookCreate(RequestModel):
    url: Url
    event_types: EventTypes
    description: Description | None = None

    def to_input(self) -> WebhookInput:
        return WebhookInput(
            url=self.url, event_types=self.event_types, description=self.description
        )


class WebhookPatch(RequestModel):
    """Fields present are replaced; fields absent stay as they are. `status: active` re-enables
    a disabled subscription and resets its failure count; `description: null` clears it."""

    url: Url | None = None
    event_types: EventTypes | None = None
    description: Description | None = None
    status: WebhookStatus | None = None

    not_null = ("url", "event_types", "status")

    def to_change(self) -> WebhookChange:
        return WebhookChange(
            url=self.url,
            event_types=self.event_types,
            set_description="description" in self.model_fields_set,
            description=self.description,
            status=self.status,
        )


class WebhookOut(ResponseModel):
    id: UUID
    url: str
    event_types: list[str]
    description: str | None
    status: WebhookStatus
    consecutive_failures: int = Field(
        description="Failed attempts in a row; the subscription is disabled at "
        "AFTERCARE_WEBHOOK_DISABLE_AFTER"
    )
    disabled_at: datetime | None
    previous_secret_expires_at: datetime | None = Field(
        description="After a rotation: until when the previous secret still signs beside the "
        "new one (null outside that window)"
    )
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, view: Webhook) -> WebhookOut:
        return cls(
            id=view.id,
            url=view.url,
            event_types=view.event_types,
            description=view.description,
            status=WebhookStatus(view.status),
            consecutive_failures=view.consecutive_failures,
            disabled_at=view.disabled_at,
            previous_secret_expires_at=view.previous_secret_expires_at,
            created_at=view.created_at,
            updated_at=view.updated_at,
            version=view.version,
        )


class WebhookCreatedOut(WebhookOut):
    secret: str = Field(description=_SHOWN_ONCE, examples=["whsec_…"])

    @classmethod
    def created(cls, made: CreatedWebhook) -> WebhookCreatedOut:
        return cls(**WebhookOut.of(made.webhook).model_dump(), secret=made.secret)


class SecretOut(ResponseModel):
    secret: str = Field(description=_SHOWN_ONCE)
    previous_secret_expires_at: datetime = Field(
        description="The previous secret keeps signing beside this one until then (24 h)"
    )

    @classmethod
    def of(cls, rotated: RotatedSecret) -> SecretOut:
        window = rotated.webhook.previous_secret_expires_at
        assert window is not None
        return cls(secret=rotated.secret, previous_secret_expires_at=window)


class PingOut(ResponseModel):
    event_id: UUID = Field(description="The `webhook.test` event (also the `webhook-id` header)")
    delivery_id: UUID

    @classmethod
    def of(cls, ping: Ping) -> PingOut:
        return cls(event_id=ping.event_id, delivery_id=ping.delivery_id)


DeliveryStatusName = Literal["pending", "succeeded", "failed"]


class DeliveryAttemptOut(ResponseModel):
    """One line of the delivery log: an attempt made, or (``id`` null, ``status`` pending) the
    next attempt of a delivery still waiting."""

    id: UUID | None = Field(description="The attempt; null for an attempt still to come")
    delivery_id: UUID
    event_id: UUID
    event_type: str
    attempt: int = Field(description="1 for the first attempt of a delivery, then 2, 3, …")
    status: DeliveryStatusName
    response_status: int | None = Field(description="The receiver's HTTP status, if it answered")
    error: str | None = Field(
        description="Why there was no (complete) answer: invalid_url, refused_address, "
        "dns_error, timeout, connection_error, tls_error, protocol_error, too_large, …"
    )
    duration_ms: int | None
    next_attempt_at: datetime | None = Field(
        description="When the delivery is (re)tried; null when no retry is due"
    )
    created_at: datetime = Field(
        description="When the attempt was made; for one still to come, when it is due"
    )

    @classmethod
    def of(cls, entry: LogEntry) -> DeliveryAttemptOut:
        return cls(
            id=entry.id,
            delivery_id=entry.delivery_id,
            event_id=entry.event_id,
            event_type=entry.event_type,
            attempt=entry.attempt,
            status=entry.status,
            response_status=entry.response_status,
            error=entry.error,
            duration_ms=entry.duration_ms,
            next_attempt_at=entry.next_attempt_at,
            created_at=entry.created_at,
        )


class DeliveryOut(ResponseModel):
    id: UUID
    event_id: UUID
    status: DeliveryStatusName
    attempts: int = Field(description="Attempts made so far (a manual retry keeps the count)")
    next_attempt_at: datetime | None

    @classmethod
    def of(cls, row: DeliveryRow) -> DeliveryOut:
        return cls(
            id=row.id,
            event_id=row.event_id,
            status=row.status,
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
        )


__all__ = [
    "DeliveryAttemptOut",
    "DeliveryOut",
    "PingOut",
    "SecretOut",
    "WebhookCreate",
    "WebhookCreatedOut",
    "WebhookOut",
    "WebhookPatch",
]
