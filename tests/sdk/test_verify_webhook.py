"""verify_webhook against the hub's own signing (the standardwebhooks library)."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aftercare_client import Event, WebhookVerificationError, verify_webhook

from app.domain.webhook_signing import generate_secret, sign_headers

EVENT_ID = str(uuid.uuid4())
BODY = json.dumps(
    {
        "id": EVENT_ID,
        "type": "referral.accepted",
        "occurred_at": "2026-11-30T10:15:02Z",
        "subject": {"type": "referral", "id": str(uuid.uuid4())},
        "case_id": str(uuid.uuid4()),
        "data": {"status": "accepted"},
    }
).encode()


def test_a_signed_delivery_verifies_and_parses() -> None:
    secret = generate_secret()
    headers = sign_headers([secret], EVENT_ID, BODY)
    event = verify_webhook(BODY, headers, secret)
    assert isinstance(event, Event) and str(event.id) == EVENT_ID
    assert event.type == "referral.accepted" and event.occurred_at.tzinfo is not None
    upper = {k.title(): v for k, v in headers.items()}  # header names in any case
    assert verify_webhook(BODY.decode(), upper, secret).id == event.id


def test_during_a_rotation_either_secret_verifies() -> None:
    old, new = generate_secret(), generate_secret()
    headers = sign_headers([new, old], EVENT_ID, BODY)
    assert verify_webhook(BODY, headers, old).id == verify_webhook(BODY, headers, new).id


@pytest.mark.parametrize(
    "change",
    [
        "body",
        "secret",
        "id",
        "missing",
        "old",
        "future",
    ],
)
def test_anything_else_is_refused(change: str) -> None:
    secret = generate_secret()
    when = datetime.now(UTC)
    if change == "old":
        when -= timedelta(minutes=6)
    if change == "future":
        when += timedelta(minutes=6)
    headers = sign_headers([secret], EVENT_ID, BODY, timestamp=when)
    body = BODY
    if change == "body":
        body = BODY.replace(b"accepted", b"declined")
    if change == "secret":
        secret = generate_secret()
    if change == "id":
        headers["webhook-id"] = str(uuid.uuid4())
    if change == "missing":
        del headers["webhook-signature"]
    with pytest.raises(WebhookVerificationError):
        verify_webhook(body, headers, secret)


def test_tolerance_and_clock_are_adjustable() -> None:
    secret = generate_secret()
    headers = sign_headers([secret], EVENT_ID, BODY)
    later = time.time() + 3600
    with pytest.raises(WebhookVerificationError):
        verify_webhook(BODY, headers, secret, now=later)
    assert verify_webhook(BODY, headers, secret, now=later, tolerance=7200).type
