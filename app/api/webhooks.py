"""Webhook subscriptions (CONTRACT "Events and webhooks"), scope ``webhooks:manage``.

Only the owning organisation sees a subscription; another organisation's is 404 like a missing
one. The signing secret is in the answer to the create and to a rotation, never anywhere else.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Query
from starlette.responses import Response

from app.api.conditional import IfMatch, Versions, etag, expected_version
from app.api.context import AppContext
from app.api.deps import Context, WebhooksManageCtx
from app.api.idempotency import Created
from app.api.pagination import Paging
from app.api.responses import model_response
from app.api.routes import Routes
from app.api.schemas.webhooks import (
    DeliveryAttemptOut,
    DeliveryOut,
    DeliveryStatusName,
    PingOut,
    SecretOut,
    WebhookCreate,
    WebhookCreatedOut,
    WebhookOut,
    WebhookPatch,
)
from app.domain.pagination import Page
from app.domain.webhooks import (
    DeliveryRow,
    DeliveryStatus,
    LogEntry,
    Ping,
    TargetPolicy,
    Webhook,
    WebhookService,
    WebhookStatus,
)

routes = Routes("webhooks", prefix="/v1/webhooks", not_found=False)
router = routes.router

_NO_STORE = {"Cache-Control": "no-store"}


def targets(app: AppContext) -> TargetPolicy:
    """How this deployment checks webhook URLs (``AFTERCARE_ENV`` and
    ``AFTERCARE_WEBHOOK_ALLOW_PRIVATE_NETWORKS``)."""
    return TargetPolicy(
        production=not app.settings.is_development,
        allow_private=app.settings.webhook_allow_private_networks,
    )


@routes.create("", WebhookCreatedOut)
async def create_webhook(body: WebhookCreate, ctx: WebhooksManageCtx, app: Context) -> Created:
    """Subscribe to events (the signing secret is shown in this answer only)"""
    made = await WebhookService(ctx, targets(app)).create(body.to_input())
    return Created(
        WebhookCreatedOut.created(made),
        location=f"/v1/webhooks/{made.webhook.id}",
        headers={"ETag": etag(made.webhook.version), **_NO_STORE},
    )


@routes.page("", WebhookOut.of)
async def list_webhooks(
    ctx: WebhooksManageCtx,
    paging: Paging,
    status: WebhookStatus | None = None,
) -> Page[Webhook]:
    """Your webhook subscriptions"""
    return await WebhookService(ctx).list(status=status, **paging)


@routes.read("/{webhook_id}", WebhookOut.of, 404)
async def get_webhook(webhook_id: UUID, ctx: WebhooksManageCtx) -> Webhook:
    """One subscription"""
    return await WebhookService(ctx).get(webhook_id)


@routes.edit("/{webhook_id}", WebhookOut.of, 404)
async def patch_webhook(
    webhook_id: UUID,
    body: WebhookPatch,
    ctx: WebhooksManageCtx,
    app: Context,
    expected_version: Versions,
) -> Webhook:
    """Change a subscription (`status: active` re-enables it)"""
    return await WebhookService(ctx, targets(app)).update(
        webhook_id, body.to_change(), expected_version=expected_version
    )


@routes.delete("/{webhook_id}", 404)
async def delete_webhook(
    webhook_id: UUID, ctx: WebhooksManageCtx, if_match: IfMatch = None
) -> Response:
    """Unsubscribe (its pending deliveries and its delivery log go with it)"""
    version = expected_version(if_match) if if_match is not None else None
    await WebhookService(ctx).delete(webhook_id, expected_version=version)
    return Response(status_code=204)


@routes.act("/{webhook_id}/rotate-secret", SecretOut, 404)
async def rotate_webhook_secret(webhook_id: UUID, ctx: WebhooksManageCtx) -> Response:
    """A new signing secret; the old one keeps signing beside it for 24 h"""
    rotated = await WebhookService(ctx).rotate_secret(webhook_id)
    return model_response(
        SecretOut.of(rotated), headers={"ETag": etag(rotated.webhook.version), **_NO_STORE}
    )


@routes.act("/{webhook_id}/test", PingOut.of, 404, 409, status=202)
async def test_webhook(webhook_id: UUID, ctx: WebhooksManageCtx) -> Ping:
    """Send a `webhook.test` event to this subscription only"""
    return await WebhookService(ctx).ping(webhook_id)


@routes.page("/{webhook_id}/deliveries", DeliveryAttemptOut.of, 404)
async def list_webhook_deliveries(
    webhook_id: UUID,
    ctx: WebhooksManageCtx,
    paging: Paging,
    status: Annotated[
        DeliveryStatusName | None,
        Query(description="Only attempts that succeeded, failed, or are still to come"),
    ] = None,
) -> Page[LogEntry]:
    """The delivery log, newest first: each attempt, and each delivery still to come"""
    return await WebhookService(ctx).deliveries(
        webhook_id,
        status=DeliveryStatus(status) if status is not None else None,
        **paging,
    )


@routes.act("/{webhook_id}/deliveries/{delivery_id}/retry", DeliveryOut.of, 404, 409, status=202)
async def retry_webhook_delivery(
    webhook_id: UUID, delivery_id: UUID, ctx: WebhooksManageCtx
) -> DeliveryRow:
    """Try a failed (or waiting) delivery again now"""
    return await WebhookService(ctx).retry(webhook_id, delivery_id)
