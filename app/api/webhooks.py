"""Webhook subscriptions (CONTRACT "Events and webhooks"), scope ``webhooks:manage``.

Only the owning organisation sees a subscription; another organisation's is 404 like a missing
one. The signing secret is in the answer to the create and to a rotation, never anywhere else.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from starlette.responses import Response

from app.api.conditional import IfMatch, etag, expected_version
from app.api.context import AppContext
from app.api.deps import Context, WebhooksManageCtx
from app.api.idempotency import Created, Idempotent
from app.api.json_body import StrictJSONRoute
from app.api.pagination import DEFAULT_PAGE_SIZE, Cursor, Limit, PageOut
from app.api.problems import problem_responses
from app.api.responses import model_response, page_response, versioned_response
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
from app.domain.webhooks import DeliveryStatus, TargetPolicy, WebhookService, WebhookStatus

router = APIRouter(
    prefix="/v1/webhooks",
    tags=["webhooks"],
    responses=problem_responses(401, 403, 422),
    route_class=StrictJSONRoute,
)
_BY_ID = problem_responses(404)
_NO_STORE = {"Cache-Control": "no-store"}


def targets(app: AppContext) -> TargetPolicy:
    """How this deployment checks webhook URLs (``AFTERCARE_ENV`` and
    ``AFTERCARE_WEBHOOK_ALLOW_PRIVATE_NETWORKS``)."""
    return TargetPolicy(
        production=not app.settings.is_development,
        allow_private=app.settings.webhook_allow_private_networks,
    )


@router.post(
    "",
    status_code=201,
    response_model=WebhookCreatedOut,
    summary="Subscribe to events (the signing secret is shown in this answer only)",
    responses={201: {"headers": {"Location": {"schema": {"type": "string"}}}}},
)
async def create_webhook(
    body: WebhookCreate, ctx: WebhooksManageCtx, app: Context, idem: Idempotent
) -> Response:
    async def create() -> Created:
        made = await WebhookService(ctx, targets(app)).create(body.to_input())
        return Created(
            WebhookCreatedOut.created(made),
            location=f"/v1/webhooks/{made.webhook.id}",
            headers={"ETag": etag(made.webhook.version), **_NO_STORE},
        )

    return await idem.create(ctx, create)


@router.get("", response_model=PageOut[WebhookOut], summary="Your webhook subscriptions")
async def list_webhooks(
    ctx: WebhooksManageCtx,
    status: WebhookStatus | None = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Response:
    page = await WebhookService(ctx).list(status=status, limit=limit, cursor=cursor)
    return page_response(page, WebhookOut, WebhookOut.of)


@router.get(
    "/{webhook_id}", response_model=WebhookOut, summary="One subscription", responses=_BY_ID
)
async def get_webhook(webhook_id: UUID, ctx: WebhooksManageCtx) -> Response:
    view = await WebhookService(ctx).get(webhook_id)
    return versioned_response(WebhookOut.of(view), view.version)


@router.patch(
    "/{webhook_id}",
    response_model=WebhookOut,
    summary="Change a subscription (`status: active` re-enables it)",
    responses=problem_responses(404, 412, 428),
)
async def patch_webhook(
    webhook_id: UUID,
    body: WebhookPatch,
    ctx: WebhooksManageCtx,
    app: Context,
    if_match: IfMatch = None,
) -> Response:
    version = expected_version(if_match)
    view = await WebhookService(ctx, targets(app)).update(
        webhook_id, body.to_change(), expected_version=version
    )
    return versioned_response(WebhookOut.of(view), view.version)


@router.delete(
    "/{webhook_id}",
    status_code=204,
    summary="Unsubscribe (its pending deliveries and its delivery log go with it)",
    responses=problem_responses(404, 412),
)
async def delete_webhook(
    webhook_id: UUID, ctx: WebhooksManageCtx, if_match: IfMatch = None
) -> Response:
    version = expected_version(if_match) if if_match is not None else None
    await WebhookService(ctx).delete(webhook_id, expected_version=version)
    return Response(status_code=204)


@router.post(
    "/{webhook_id}/rotate-secret",
    response_model=SecretOut,
    summary="A new signing secret; the old one keeps signing beside it for 24 h",
    responses=_BY_ID,
)
async def rotate_webhook_secret(webhook_id: UUID, ctx: WebhooksManageCtx) -> Response:
    rotated = await WebhookService(ctx).rotate_secret(webhook_id)
    return model_response(
        SecretOut.of(rotated), headers={"ETag": etag(rotated.webhook.version), **_NO_STORE}
    )


@router.post(
    "/{webhook_id}/test",
    status_code=202,
    response_model=PingOut,
    summary="Send a `webhook.test` event to this subscription only",
    responses=problem_responses(404, 409),
)
async def test_webhook(webhook_id: UUID, ctx: WebhooksManageCtx) -> Response:
    ping = await WebhookService(ctx).ping(webhook_id)
    return model_response(PingOut.of(ping), status=202)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=PageOut[DeliveryAttemptOut],
    summary="The delivery log, newest first: each attempt, and each delivery still to come",
    responses=_BY_ID,
)
async def list_webhook_deliveries(
    webhook_id: UUID,
    ctx: WebhooksManageCtx,
    status: Annotated[
        DeliveryStatusName | None,
        Query(description="Only attempts that succeeded, failed, or are still to come"),
    ] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Response:
    page = await WebhookService(ctx).deliveries(
        webhook_id,
        status=DeliveryStatus(status) if status is not None else None,
        limit=limit,
        cursor=cursor,
    )
    return page_response(page, DeliveryAttemptOut, DeliveryAttemptOut.of)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/retry",
    status_code=202,
    response_model=DeliveryOut,
    summary="Try a failed (or waiting) delivery again now",
    responses=problem_responses(404, 409),
)
async def retry_webhook_delivery(
    webhook_id: UUID, delivery_id: UUID, ctx: WebhooksManageCtx
) -> Response:
    delivery = await WebhookService(ctx).retry(webhook_id, delivery_id)
    return model_response(DeliveryOut.of(delivery), status=202)
