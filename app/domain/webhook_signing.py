"""Standard Webhooks signatures, through the ``standardwebhooks`` library.

A delivery carries three headers (https://www.standardwebhooks.com/):

- ``webhook-id``: the event id, the same on every retry, so a receiver can drop duplicates;
- ``webhook-timestamp``: seconds since the epoch when the attempt was signed;
- ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``, one per valid
  secret, space-separated: during a rotation the old secret signs beside the new one for 24 h,
  so a receiver that still holds either verifies.

Secrets are ``whsec_`` + base64 of 32 random bytes. The library does the HMAC and the
verification; this module only generates secrets and puts the headers together.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook, WebhookVerificationError

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
SECRET_BYTES = 32

__all__ = [
    "SECRET_PREFIX",
    "InvalidSignature",
    "generate_secret",
    "sign_headers",
    "verify",
]


class InvalidSignature(Exception):
    """The headers do not prove that the body came from the hub (or are too old or too new)."""


def generate_secret() -> str:
    """A new signing secret: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def sign_headers(
    signing_secrets: Sequence[str], msg_id: str, body: bytes, *, timestamp: datetime | None = None
) -> dict[str, str]:
    """The three ``webhook-*`` headers for ``body``, signed with each of ``signing_secrets`` (the
    current secret first, then one still valid after a rotation)."""
    if not signing_secrets:
        raise ValueError("at least one secret is needed to sign")
    when = (timestamp or datetime.now(UTC)).astimezone(UTC)
    data = body.decode("utf-8")
    signatures = [Webhook(secret).sign(msg_id, when, data) for secret in signing_secrets]
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": " ".join(signatures),
    }


def verify(secret: str, body: bytes, headers: Mapping[str, str]) -> None:
    """Check a delivery as a receiver would (``Webhook.verify``: any one ``v1`` signature made
    with ``secret``, timestamp within five minutes). Raises :class:`InvalidSignature`."""
    try:
        Webhook(secret).verify(body, dict(headers), json_parse=False)
    except (WebhookVerificationError, EmptyWebhookSecretError, ValueError) as exc:
        raise InvalidSignature(str(exc) or "invalid signature") from exc
