"""Verifying webhook deliveries (Standard Webhooks, https://www.standardwebhooks.com/)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping

from aftercare_client._errors import WebhookVerificationError
from aftercare_client._models import Event, parse

__all__ = ["verify_webhook"]

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
DEFAULT_TOLERANCE = 300


def verify_webhook(
    body: bytes | str,
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> Event:
    """The event a delivery carries, once its signature proves it came from the hub.

    ``body`` is the raw request body (verify before parsing: re-serialised JSON would not match),
    ``headers`` the request's headers (any capitalisation), ``secret`` the subscription's
    ``whsec_…`` secret. Raises :class:`WebhookVerificationError` when a header is missing, the
    timestamp is more than ``tolerance`` seconds away from now (replays), or no signature
    matches. ``webhook-id`` is the event id: the same on every retry, so drop ids already seen.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        msg_id = lowered["webhook-id"]
        timestamp = lowered["webhook-timestamp"]
        signatures = lowered["webhook-signature"]
    except KeyError as missing:
        raise WebhookVerificationError(f"missing header {missing.args[0]}") from None
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise WebhookVerificationError("invalid webhook-timestamp") from None
    current = time.time() if now is None else now
    if abs(current - sent_at) > tolerance:
        raise WebhookVerificationError("webhook-timestamp too old or too new")
    raw = body.encode("utf-8") if isinstance(body, str) else body
    key = _secret_bytes(secret)
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + raw
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    for candidate in signatures.split():
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(expected, signature.encode()):
            break
    else:
        raise WebhookVerificationError("no matching signature")
    try:
        payload = json.loads(raw)
    except ValueError:
        raise WebhookVerificationError("body is not JSON") from None
    if not isinstance(payload, dict):
        raise WebhookVerificationError("body is not a JSON object")
    return parse(Event, payload)


def _secret_bytes(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise WebhookVerificationError("the secret is not a whsec_ secret") from None
