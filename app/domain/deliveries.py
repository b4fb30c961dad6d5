"""Webhook deliveries as the worker makes them: sign, send, judge, record.

A claimed delivery (app.db.repositories.deliveries) becomes one attempt: the body is the event
exactly as the feed shows it (:meth:`app.domain.events.EventView.body`), signed with the
subscription's secret (and the previous one while a rotation lasts), sent through the SSRF guard
(:class:`app.domain.webhook_delivery.WebhookSender`). Its outcome decides the delivery's next
state: ``succeeded`` on any 2xx; otherwise ``pending`` again after the next delay of the retry
schedule, or ``failed`` once the schedule is used up. Consecutive failed attempts are counted
per subscription (a success resets the count); at the limit the subscription is disabled and its
owner gets ``webhook.disabled``, in the transaction that records the attempt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

import orjson

from app.db.database import Session
from app.db.repositories import deliveries as repo
from app.db.repositories.deliveries import AttemptRecord, ClaimedDelivery
from app.domain.crypto import KeyWrapper
from app.domain.events import EventType, EventView, Outbox, SubjectType
from app.domain.webhook_delivery import DeliveryResult
from app.domain.webhook_signing import sign_headers
from app.domain.webhooks import open_secret


class SecretBox:
    """Opens subscriptions' secrets, each sealed value once per process (a worker signs many
    deliveries for the same subscription)."""

    def __init__(self, key_wrapper: KeyWrapper, max_entries: int = 10_000) -> None:
        self.key_wrapper = key_wrapper
        self.max_entries = max_entries
        self._opened: dict[tuple[UUID, bytes], str] = {}

    def open(self, webhook_id: UUID, sealed: bytes) -> str:
        key = (webhook_id, bytes(sealed))
        secret = self._opened.get(key)
        if secret is None:
            secret = open_secret(self.key_wrapper, webhook_id, sealed)
            if len(self._opened) >= self.max_entries:
                self._opened.clear()
            self._opened[key] = secret
        return secret

    def signing_secrets(self, claimed: ClaimedDelivery) -> list[str]:
        """The current secret, then the previous one while its rotation grace lasts."""
        found = [self.open(claimed.webhook_id, claimed.secret_enc)]
        if (
            claimed.previous_secret_enc is not None
            and claimed.previous_secret_expires_at is not None
            and claimed.previous_secret_expires_at > claimed.now
        ):
            found.append(self.open(claimed.webhook_id, claimed.previous_secret_enc))
        return found


def body_of(claimed: ClaimedDelivery) -> bytes:
    """The event JSON exactly as the feed shows it."""
    view = EventView(
        claimed.event_id,
        claimed.type,
        claimed.occurred_at,
        claimed.subject_type,
        claimed.subject_id,
        claimed.case_id,
        claimed.data,
        0,
        0,
    )
    return orjson.dumps(view.body())


def request_of(claimed: ClaimedDelivery, secrets: SecretBox) -> tuple[bytes, dict[str, str]]:
    """The body and the Standard Webhooks headers (``webhook-id`` is the event id, the same on
    every attempt)."""
    body = body_of(claimed)
    return body, sign_headers(secrets.signing_secrets(claimed), str(claimed.event_id), body)


def outcome(
    claimed: ClaimedDelivery, result: DeliveryResult, retry_delays: Sequence[int]
) -> AttemptRecord:
    """What the attempt means for its delivery: succeeded, pending after the next delay of the
    schedule, or failed when the schedule is used up."""
    attempt = claimed.attempts + 1
    if result.ok:
        status, retry_after = "succeeded", None
    elif attempt <= len(retry_delays):
        status, retry_after = "pending", float(retry_delays[attempt - 1])
    else:
        status, retry_after = "failed", None
    return AttemptRecord(
        attempt_id=uuid4(),
        delivery_id=claimed.id,
        lease=claimed.leased_until,
        attempt=attempt,
        outcome="succeeded" if result.ok else "failed",
        response_status=result.status_code,
        error=None if result.ok else (result.error_code or "http_status"),
        duration_ms=result.duration_ms,
        retry_after=retry_after,
        delivery_status=status,
    )


@dataclass(frozen=True, slots=True)
class Recorded:
    attempts: int
    disabled: list[UUID]


async def record(
    session: Session,
    attempts: Sequence[tuple[UUID, AttemptRecord]],
    *,
    disable_after: int,
) -> Recorded:
    """Record attempts (``(webhook_id, record)`` in the order they finished) in the caller's
    transaction: the attempt log, the deliveries' new state, each subscription's consecutive
    failures, and for each subscription that reached ``disable_after``: disabled, with
    ``webhook.disabled`` to its owner."""
    if not attempts:
        return Recorded(0, [])
    logged, _ = await repo.record(session, [r for _, r in attempts])
    # Per subscription: a success resets the count to the failures after the last success.
    per_webhook: dict[UUID, tuple[bool, int]] = {}
    for webhook_id, r in attempts:
        reset, failures = per_webhook.get(webhook_id, (False, 0))
        if r.outcome == "succeeded":
            per_webhook[webhook_id] = (True, 0)
        else:
            per_webhook[webhook_id] = (reset, failures + 1)
    ids = sorted(per_webhook)
    counted = await repo.count_failures(
        session,
        ids=ids,
        resets=[per_webhook[i][0] for i in ids],
        failures=[per_webhook[i][1] for i in ids],
        disable_after=disable_after,
    )
    disabled = [w for w in counted if w.disabled]
    outbox = Outbox(session, actor_org_id=None)
    for webhook in disabled:
        await outbox.to_orgs(
            EventType.WEBHOOK_DISABLED,
            [webhook.org_id],
            subject=(SubjectType.WEBHOOK, webhook.id),
            data={"webhook_id": webhook.id},
        )
    return Recorded(logged, [w.id for w in disabled])


async def claim(session: Session, *, limit: int, lease_seconds: float) -> list[ClaimedDelivery]:
    """Due deliveries, leased to the caller (one short statement; commit follows at once)."""
    return await repo.claim(session, limit=limit, lease_seconds=lease_seconds)


async def next_due(session: Session) -> datetime | None:
    return await repo.next_due(session)
