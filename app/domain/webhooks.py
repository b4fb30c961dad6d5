"""Webhook subscriptions (CONTRACT "Events and webhooks"): what a partner asks the hub to send
where, the signing secrets, the test ping, the delivery log and the manual retry.

Only the owning organisation sees a subscription: every read and write names the caller's
organisation, and another organisation's subscription is a 404 like a missing one.

- **Targets.** A URL is checked when it is given (:func:`check_target`): the URL rules and, for
  an IP literal, the address policy (``app.domain.webhook_targets``); a host name is resolved
  once and refused when any address it resolves to is refused — unless private networks are
  allowed (``AFTERCARE_WEBHOOK_ALLOW_PRIVATE_NETWORKS``), which turns the address policy off.
  The worker checks again before every delivery. The URL is stored as checked (normalised).
- **Secrets.** ``whsec_…`` (``app.domain.webhook_signing``), shown once: in the answer to the
  create (and to a rotation) and never again. They are stored sealed under the key-encryption
  key with associated data ``webhooks:<id>:secret`` (:func:`seal_secret`), so a database dump
  holds no secret and a sealed secret copied to another subscription does not open. A rotation
  keeps the old secret signing beside the new one for :data:`SECRET_OVERLAP`
  (:func:`signing_secrets` is what the worker signs with).
- **Test ping.** A ``webhook.test`` event for the owner and one delivery to this subscription
  only, whatever its event types.
- **Delivery log.** Newest first: every attempt made, and each pending delivery as the attempt
  to come (``id`` null, ``status`` pending, ``attempt`` the number it will have).
- **Manual retry.** A failed or pending delivery becomes due now, its attempt counter kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from uuid import UUID, uuid4

from app.db.repositories import webhooks as repo
from app.db.repositories.webhooks import DeliveryRow, LogRow, WebhookRow
from app.domain.context import RequestContext
from app.domain.crypto import KeyWrapper
from app.domain.errors import (
    InvalidTransition,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
)
from app.domain.events import EventType, check_data
from app.domain.pagination import KeysetList, Page
from app.domain.webhook_signing import generate_secret
from app.domain.webhook_targets import (
    Resolver,
    TargetUnresolvable,
    check_url,
    resolve_target,
)

__all__ = [
    "DELIVERY_LOG",
    "MAX_EVENT_TYPES",
    "SECRET_OVERLAP",
    "WEBHOOKS",
    "CreatedWebhook",
    "DeliveryRow",
    "DeliveryStatus",
    "LogEntry",
    "Ping",
    "RotatedSecret",
    "TargetPolicy",
    "Webhook",
    "WebhookChange",
    "WebhookInput",
    "WebhookService",
    "WebhookStatus",
    "check_target",
    "event_types_of",
    "open_secret",
    "reseal_secrets",
    "seal_secret",
    "signing_secrets",
]

WEBHOOKS = KeysetList("webhooks", ("created_at", "id"), (datetime.fromisoformat, UUID))
# Newest first; `sort_id` is the attempt's id, or the delivery's for an attempt still to come.
DELIVERY_LOG = KeysetList(
    "webhook-deliveries", ("created_at", "sort_id"), (datetime.fromisoformat, UUID)
)

SECRET_OVERLAP = timedelta(hours=24)
MAX_EVENT_TYPES = 30
ALL_EVENTS = "*"
RESOLVE_TIMEOUT_SECONDS = 5.0
_PURPOSE = "webhooks"


class WebhookStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


# -- secrets -------------------------------------------------------------------------------------
def _context(webhook_id: UUID) -> str:
    return f"{webhook_id}:secret"


def seal_secret(wrapper: KeyWrapper, webhook_id: UUID, secret: str) -> bytes:
    """A signing secret sealed under the current KEK (AAD ``webhooks:<id>:secret``)."""
    return wrapper.seal(_PURPOSE, _context(webhook_id), secret.encode("ascii"))


def open_secret(wrapper: KeyWrapper, webhook_id: UUID, blob: bytes) -> str:
    """A sealed signing secret of ``webhook_id`` (raises ``DecryptionFailed``)."""
    return wrapper.open(_PURPOSE, _context(webhook_id), bytes(blob)).decode("ascii")


def signing_secrets(wrapper: KeyWrapper, row: WebhookRow, now: datetime) -> list[str]:
    """What a delivery is signed with at ``now``: the current secret, then the previous one
    while its rotation window is open."""
    found = [open_secret(wrapper, row.id, row.secret_enc)]
    if (
        row.previous_secret_enc is not None
        and row.previous_secret_expires_at is not None
        and now < row.previous_secret_expires_at
    ):
        found.append(open_secret(wrapper, row.id, row.previous_secret_enc))
    return found


def reseal_secrets(
    wrapper: KeyWrapper, webhook_id: UUID, secret_enc: bytes, previous_enc: bytes | None
) -> tuple[bytes, bytes | None] | None:
    """Both sealed secrets under the current KEK, or None when they already are (KEK rotation)."""
    blobs = [b for b in (secret_enc, previous_enc) if b is not None]
    if all(wrapper.sealed_with_current(_PURPOSE, _context(webhook_id), bytes(b)) for b in blobs):
        return None
    secret = seal_secret(wrapper, webhook_id, open_secret(wrapper, webhook_id, secret_enc))
    previous = (
        seal_secret(wrapper, webhook_id, open_secret(wrapper, webhook_id, previous_enc))
        if previous_enc is not None
        else None
    )
    return secret, previous


# -- targets and event types ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TargetPolicy:
    """How URLs are checked: ``production`` requires https; ``allow_private`` lifts the address
    policy (tests, local demos); ``resolver`` looks host names up (the system's by default)."""

    production: bool = False
    allow_private: bool = False
    resolver: Resolver | None = None


async def check_target(url: str, policy: TargetPolicy) -> str:
    """The URL as it will be stored (normalised), after the URL rules and the address policy;
    a host name is resolved once and every address it resolves to must be allowed. Raises
    ``ValidationFailed`` (``loc`` ``["url"]``)."""
    target = check_url(url, production=policy.production, allow_private=policy.allow_private)
    if target.ip is None and not policy.allow_private:
        resolver = policy.resolver
        if resolver is None:
            from app.domain.webhook_delivery import system_resolver

            resolver = system_resolver
        try:
            async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
                await resolve_target(target, resolver, allow_private=False)
        except TimeoutError:
            raise TargetUnresolvable("The host name does not resolve") from None
    return target.url


_TYPES = {t.value for t in EventType}


def event_types_of(values: Sequence[str]) -> list[str]:
    """The subscribed types, each once, in the order given: contract types, or ``["*"]`` alone
    for every type. Raises ``ValidationFailed``."""
    if not values:
        raise ValidationFailed('Give at least one event type, or ["*"]', loc=["event_types"])
    if len(values) > MAX_EVENT_TYPES:
        raise ValidationFailed(f"At most {MAX_EVENT_TYPES} event types", loc=["event_types"])
    errors = [
        {"loc": ["event_types", i], "msg": "Unknown event type; see the contract's list"}
        for i, value in enumerate(values)
        if value not in _TYPES and value != ALL_EVENTS
    ]
    if errors:
        raise ValidationFailed("Unknown event type", errors=errors)
    types = list(dict.fromkeys(values))
    if ALL_EVENTS in types and len(types) > 1:
        raise ValidationFailed(
            '"*" already means every event type; give it alone', loc=["event_types"]
        )
    return types


# -- views ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Webhook:
    """A subscription as its owner sees it (never its secret)."""

    id: UUID
    url: str
    event_types: list[str]
    description: str | None
    status: str
    consecutive_failures: int
    disabled_at: datetime | None
    previous_secret_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, row: WebhookRow, now: datetime | None = None) -> Webhook:
        moment = now or datetime.now(UTC)
        window = row.previous_secret_expires_at
        return cls(
            id=row.id,
            url=row.url,
            event_types=list(row.event_types),
            description=row.description,
            status=row.status,
            consecutive_failures=row.consecutive_failures,
            disabled_at=row.disabled_at,
            previous_secret_expires_at=window if window is not None and window > moment else None,
            created_at=row.created_at,
            updated_at=row.updated_at,
            version=row.version,
        )


@dataclass(frozen=True, slots=True)
class CreatedWebhook:
    webhook: Webhook
    secret: str


@dataclass(frozen=True, slots=True)
class RotatedSecret:
    webhook: Webhook
    secret: str


@dataclass(frozen=True, slots=True)
class Ping:
    event_id: UUID
    delivery_id: UUID


# One line of the delivery log (``id`` None: the attempt still to come): the row as the
# repository reads it, handed up as it is.
LogEntry = LogRow


@dataclass(frozen=True, slots=True)
class WebhookInput:
    url: str
    event_types: list[str]
    description: str | None = None


@dataclass(frozen=True, slots=True)
class WebhookChange:
    """A PATCH: ``None`` leaves a field as it is (``description`` only when given:
    ``set_description``)."""

    url: str | None = None
    event_types: list[str] | None = None
    set_description: bool = False
    description: str | None = None
    status: WebhookStatus | None = None


# -- the service ---------------------------------------------------------------------------------
class WebhookService:
    def __init__(self, ctx: RequestContext, targets: TargetPolicy | None = None) -> None:
        self.session = ctx.session
        self.principal = ctx.principal
        self.key_wrapper = ctx.key_wrapper
        self.targets = targets or TargetPolicy()

    @property
    def org_id(self) -> UUID:
        return self.principal.org_id

    async def _load(self, webhook_id: UUID) -> WebhookRow:
        row = await repo.get(self.session, webhook_id, self.org_id)
        if row is None:
            raise NotFound("No such webhook")
        return row

    async def create(self, data: WebhookInput) -> CreatedWebhook:
        types = event_types_of(data.event_types)
        url = await check_target(data.url, self.targets)  # before any statement: no connection
        webhook_id = uuid4()
        secret = generate_secret()
        await self.session.begin()
        row = await repo.insert(
            self.session,
            id=webhook_id,
            org_id=self.org_id,
            url=url,
            event_types=types,
            description=data.description,
            secret_enc=seal_secret(self.key_wrapper, webhook_id, secret),
        )
        return CreatedWebhook(Webhook.of(row), secret)

    async def list(
        self, *, status: WebhookStatus | None, limit: int, cursor: str | None
    ) -> Page[Webhook]:
        after = WEBHOOKS.position(cursor)
        rows = await repo.list_page(
            self.session,
            org_id=self.org_id,
            status=str(status) if status is not None else None,
            **WEBHOOKS.bind(after, "after_ts", "after_id"),
            limit=limit + 1,
        )
        page = WEBHOOKS.page(rows, limit)
        now = datetime.now(UTC)
        return Page([Webhook.of(r, now) for r in page.items], page.next_cursor)

    async def get(self, webhook_id: UUID) -> Webhook:
        return Webhook.of(await self._load(webhook_id))

    async def update(
        self, webhook_id: UUID, change: WebhookChange, *, expected_version: Collection[int] | None
    ) -> Webhook:
        types = event_types_of(change.event_types) if change.event_types is not None else None
        url = await check_target(change.url, self.targets) if change.url is not None else None
        await self.session.begin()
        current = await self._load(webhook_id)
        if expected_version is not None and current.version not in expected_version:
            raise PreconditionFailed("The webhook has changed; fetch it again")
        if change == WebhookChange():  # an empty patch: no write, no new version
            return Webhook.of(current)
        row = await repo.update(
            self.session,
            id=webhook_id,
            org_id=self.org_id,
            url=url,
            event_types=types,
            set_description=change.set_description,
            description=change.description,
            status=str(change.status) if change.status is not None else None,
            expected_version=current.version,
        )
        if row is None:
            raise PreconditionFailed("The webhook has changed; fetch it again")
        return Webhook.of(row)

    async def delete(self, webhook_id: UUID, *, expected_version: Collection[int] | None) -> None:
        await self.session.begin()
        current = await self._load(webhook_id)
        if expected_version is not None and current.version not in expected_version:
            raise PreconditionFailed("The webhook has changed; fetch it again")
        if not await repo.delete(self.session, webhook_id, self.org_id, current.version):
            raise PreconditionFailed("The webhook has changed; fetch it again")

    async def rotate_secret(self, webhook_id: UUID) -> RotatedSecret:
        secret = generate_secret()
        await self.session.begin()
        row = await repo.rotate(
            self.session,
            webhook_id,
            self.org_id,
            seal_secret(self.key_wrapper, webhook_id, secret),
            SECRET_OVERLAP.total_seconds(),
        )
        if row is None:
            raise NotFound("No such webhook")
        return RotatedSecret(Webhook.of(row), secret)

    async def ping(self, webhook_id: UUID) -> Ping:
        await self.session.begin()
        row = await self._load(webhook_id)
        _require_active(row)
        made = await repo.ping(
            self.session,
            event_id=uuid4(),
            org_id=self.org_id,
            webhook_id=webhook_id,
            data=check_data({"webhook_id": webhook_id}),
            delivery_id=uuid4(),
        )
        return Ping(made.event_id, made.delivery_id)

    async def deliveries(
        self,
        webhook_id: UUID,
        *,
        status: DeliveryStatus | None,
        limit: int,
        cursor: str | None,
    ) -> Page[LogEntry]:
        before = DELIVERY_LOG.position(cursor)
        await self._load(webhook_id)
        rows = await repo.log_page(
            self.session,
            webhook_id=webhook_id,
            status=str(status) if status is not None else None,
            **DELIVERY_LOG.bind(before, "before_ts", "before_id"),
            limit=limit + 1,
        )
        return DELIVERY_LOG.page(rows, limit)

    async def retry(self, webhook_id: UUID, delivery_id: UUID) -> DeliveryRow:
        await self.session.begin()
        hook = await self._load(webhook_id)
        delivery = await repo.get_delivery(self.session, delivery_id, webhook_id, self.org_id)
        if delivery is None:
            raise NotFound("No such delivery")
        _require_active(hook)
        if delivery.status == DeliveryStatus.SUCCEEDED:
            raise InvalidTransition("The delivery has already succeeded")
        row = await repo.retry(self.session, delivery_id, webhook_id)
        if row is None:  # pragma: no cover - it succeeded between the two statements
            raise InvalidTransition("The delivery has already succeeded")
        return row


def _require_active(row: WebhookRow) -> None:
    if row.status != WebhookStatus.ACTIVE:
        raise InvalidTransition(
            "The webhook is disabled: nothing is sent to it. PATCH its status to active first"
        )
