"""What the sync and async clients share: retry timing, token bookkeeping, request options."""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

__all__ = ["RetryPolicy", "TokenState", "async_sleep", "retry_after", "sync_sleep"]

RETRY_STATUSES = frozenset({429, 503})


def retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait as ``Retry-After`` says (delta-seconds or an HTTP date), if it says."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries of 429 and 503 answers (and of transport errors where a retry is safe).

    The wait is the server's ``Retry-After`` when it gives one, else exponential backoff from
    ``backoff`` seconds; either way plus up to ``jitter`` (a fraction) more, so that many clients
    told to come back at the same moment do not all come back at once, and never above
    ``max_wait``: a longer ``Retry-After`` raises :class:`~aftercare_client.RateLimited` at once.
    """

    max_retries: int = 3
    backoff: float = 0.5
    max_wait: float = 60.0
    jitter: float = 0.2
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def delay(self, attempt: int, response: httpx.Response | None) -> float | None:
        """Seconds to wait before retry number ``attempt`` (1-based), ``None`` to give up."""
        if attempt > self.max_retries:
            return None
        told = retry_after(response) if response is not None else None
        base = told if told is not None else self.backoff * 2 ** (attempt - 1)
        if base > self.max_wait:
            return None
        return min(self.max_wait, base * (1 + self.jitter * self.rng.random()))


@dataclass(slots=True)
class TokenState:
    """The current access token and when to stop using it (a margin before it expires)."""

    margin: float
    access_token: str | None = None
    refresh_at: float = 0.0
    scope: str | None = None

    def valid(self, now: float) -> str | None:
        return self.access_token if self.access_token and now < self.refresh_at else None

    def store(self, access_token: str, expires_in: int, scope: str | None, now: float) -> None:
        self.access_token = access_token
        self.scope = scope
        # Refresh at `margin` seconds before expiry, or half-way for tokens shorter than that.
        self.refresh_at = now + max(expires_in - self.margin, expires_in / 2)

    def forget(self, token: str) -> None:
        if self.access_token == token:
            self.access_token = None


async def async_sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


def sync_sleep(seconds: float) -> None:
    time.sleep(seconds)
