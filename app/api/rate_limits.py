"""Rate limits (CONTRACT "Rate limits, metrics, HTTP details"), counted by the ``limits`` library
with its sliding-window-counter strategy (two counters per key, weighted; constant memory and
time whatever the limit).

- **Per client** on ``/v1`` and ``/graphql``: each authenticated request spends one unit of
  ``AFTERCARE_RATE_LIMIT`` (default ``600/minute``) keyed by the token's client id. Responses carry
  the IETF headers in the structured-field syntax of draft-ietf-httpapi-ratelimit-headers (-08 to
  -11): ``RateLimit-Policy: "default";q=600;w=60`` (quota, window in seconds) and
  ``RateLimit: "default";r=599;t=42`` (remaining units, seconds until a unit frees up). Over the
  limit: 429 problem+json ``rate_limited`` with ``Retry-After``.
- **Failed client authentications** at ``/oauth/token``, ``/oauth/revoke`` and
  ``/oauth/introspect``: counted per source address against ``AFTERCARE_TOKEN_FAILURE_LIMIT``
  (default ``10/minute``), not per client id (see ``_failure_key``). While it is spent the
  endpoint answers 429 (OAuth JSON ``{"error": "rate_limited"}``, ``Retry-After``) before any
  secret is hashed. The source address is the ASGI peer address. ``X-Forwarded-For`` counts only
  when the peer is one of ``AFTERCARE_TRUSTED_PROXIES``: then the address is the right-most
  entry that is not itself a trusted proxy (the one the outermost trusted proxy saw).
- **Storage**: process memory (:class:`LocalCounters`), or Redis through ``limits`` when
  ``AFTERCARE_REDIS_URL`` is set (replicas share the counters). When Redis fails the limiter
  **fails open**: the request proceeds without a limit (and without RateLimit headers), a
  warning is logged, and Redis is left alone for a few seconds before it is tried again, so an
  outage costs neither availability nor latency.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio
from limits import RateLimitItem, WindowStats, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from starlette.requests import Request

from app.logging import log

POLICY = "default"
_REDIS_TIMEOUT_SECONDS = 0.25
_BACKOFF_SECONDS = 5.0
_STORAGE_ERRORS = (RedisError, StorageError, OSError, TimeoutError)


@dataclass(frozen=True, slots=True)
class Quota:
    """One client's standing after a request: the numbers behind the RateLimit headers."""

    allowed: bool
    limit: int
    window: int
    remaining: int
    reset: int

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"ratelimit-policy", f'"{POLICY}";q={self.limit};w={self.window}'.encode()),
            (b"ratelimit", f'"{POLICY}";r={self.remaining};t={self.reset}'.encode()),
        ]


ProxyNetworks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]


def _trusted(address: str, proxies: ProxyNetworks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def source_address(
    peer: str | None, forwarded_for: list[str], proxies: ProxyNetworks
) -> str | None:
    """The caller's address: the peer, unless the peer is a trusted proxy (then the right-most
    ``X-Forwarded-For`` hop that is not a trusted proxy; entries left of it are the caller's to
    invent)."""
    if peer is None or not proxies or not _trusted(peer, proxies):
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop
    return hops[0] if hops else peer


def counted_address(address: str | None) -> str:
    """What a failed authentication is counted under: an IPv4 address itself, an IPv6 address
    by its /64 network (a host is commonly given a whole /64: its addresses are one caller)."""
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class LocalCounters:
    """``limits``' sliding-window-counter strategy over this process's memory, with the same
    interface and the same arithmetic (a fixed window's count plus the previous window's,
    weighted by the share of it the sliding window still covers; reset and remaining as
    ``get_window_stats`` computes them; ``tests/unit/test_rate_limit_counters.py`` replays random
    hits through both and compares).

    Not ``limits``' own ``MemoryStorage``: its per-key ``asyncio.Lock`` and the expiry task it
    creates again on every hit were about 120 of the 730 Python calls of a
    ``GET /v1/organizations/me``, and a hit with its window's numbers took 23 µs against 5 µs
    here (bench/README, thirteenth session). Here one
    dict entry per key holds its window's index and the two counts; nothing awaits, so nothing
    can interleave, and the entries of windows that ended are swept once a window."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        # (amount, seconds, identifiers) -> [window index, previous window's count, current]
        self._windows: dict[tuple[int, int, tuple[str, ...]], list[int]] = {}
        self._sweep_at = 0.0

    def _counts(
        self, item: RateLimitItem, identifiers: tuple[str, ...], now: float, *, keep: bool = False
    ) -> tuple[list[int], int]:
        """The key's ``[window index, previous count, current count]`` as of ``now``; a key
        never hit is stored only when ``keep`` (a hit), so reads alone leave nothing behind."""
        expiry = item.get_expiry()
        index = int(now / expiry)
        if now >= self._sweep_at:
            self._sweep(now)
        key = (item.amount, expiry, identifiers)
        window = self._windows.get(key)
        if window is None:
            window = [index, 0, 0]
            if keep:
                self._windows[key] = window
        elif window[0] < index:  # (a wall clock stepped back keeps the window it had)
            window[1] = window[2] if window[0] == index - 1 else 0
            window[2] = 0
            window[0] = index
        return window, expiry

    def _sweep(self, now: float) -> None:
        """Forget the keys whose counts no longer weigh (no hit in this window or the last)."""
        longest = 1
        for key, window in list(self._windows.items()):
            expiry = key[1]
            longest = max(longest, expiry)
            if window[0] < int(now / expiry) - 1:
                del self._windows[key]
        self._sweep_at = now + longest

    @staticmethod
    def _weighted(window: list[int], expiry: int, now: float) -> tuple[float, float]:
        previous = window[1]
        previous_ttl = (1 - (((now - expiry) / expiry) % 1)) * expiry if previous else 0.0
        return previous * previous_ttl / expiry + window[2], previous_ttl

    async def hit(self, item: RateLimitItem, *identifiers: str, cost: int = 1) -> bool:
        if cost > item.amount:
            return False
        now = self._clock()
        window, expiry = self._counts(item, identifiers, now, keep=True)
        weighted, _ = self._weighted(window, expiry, now)
        if math.floor(weighted) + cost > item.amount:
            return False
        window[2] += cost
        return True

    async def test(self, item: RateLimitItem, *identifiers: str, cost: int = 1) -> bool:
        now = self._clock()
        window, expiry = self._counts(item, identifiers, now)
        weighted, _ = self._weighted(window, expiry, now)
        return weighted < item.amount - cost + 1

    async def get_window_stats(self, item: RateLimitItem, *identifiers: str) -> WindowStats:
        now = self._clock()
        window, expiry = self._counts(item, identifiers, now)
        weighted, previous_ttl = self._weighted(window, expiry, now)
        remaining = max(0, item.amount - math.floor(weighted))
        previous, current = window[1], window[2]
        if not (previous or current):
            return WindowStats(now, remaining)
        previous_reset_in = previous_ttl % (expiry / previous) if previous else math.inf
        current_ttl = (1 - ((now / expiry) % 1)) * expiry + expiry
        current_reset_in = current_ttl % expiry if current else math.inf
        return WindowStats(now + min(previous_reset_in, current_reset_in), remaining)


def _seconds_until(reset_time: float) -> int:
    return max(0, math.ceil(reset_time - time.time()))


class RateLimiter:
    def __init__(
        self,
        *,
        request_limit: str,
        failure_limit: str,
        redis_url: str | None = None,
        key_prefix: str = "aftercare",
        trusted_proxies: ProxyNetworks = (),
    ) -> None:
        self.trusted_proxies = trusted_proxies
        self.request_limit: RateLimitItem = parse(request_limit)
        self.failure_limit: RateLimitItem = parse(failure_limit)
        self._pool: redis.asyncio.ConnectionPool | None = None
        self._strategy: SlidingWindowCounterRateLimiter | LocalCounters
        if redis_url:
            # Short timeouts and no retries: a slow or absent Redis must not slow requests down.
            self._pool = redis.asyncio.ConnectionPool.from_url(
                redis_url,
                socket_connect_timeout=_REDIS_TIMEOUT_SECONDS,
                socket_timeout=_REDIS_TIMEOUT_SECONDS,
                retry=Retry(NoBackoff(), 0),
            )
            storage = RedisStorage(
                "async+" + redis_url,
                implementation="redispy",
                key_prefix=key_prefix,
                connection_pool=self._pool,  # type: ignore[arg-type]
            )
            self._strategy = SlidingWindowCounterRateLimiter(storage)
        else:
            self._strategy = LocalCounters()
        self._down_until = 0.0

    @property
    def shared(self) -> bool:
        return self._pool is not None

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()

    def _available(self) -> bool:
        return not self._down_until or time.monotonic() >= self._down_until

    def _failed(self, exc: Exception) -> None:
        # Fail open: log once per back-off period, not once per request.
        self._down_until = time.monotonic() + _BACKOFF_SECONDS
        log.warning(
            "rate_limit_storage_unavailable",
            error_type=type(exc).__name__,
            retry_in_seconds=_BACKOFF_SECONDS,
        )

    async def hit_client(self, client_id: str) -> Quota | None:
        """Spend one request of ``client_id``'s quota; ``None`` when the counters are unavailable
        (fail open)."""
        if not self._available():
            return None
        item = self.request_limit
        try:
            allowed = await self._strategy.hit(item, "client", client_id)
            stats = await self._strategy.get_window_stats(item, "client", client_id)
        except _STORAGE_ERRORS as exc:
            self._failed(exc)
            return None
        reset = _seconds_until(stats.reset_time)
        return Quota(
            allowed=allowed,
            limit=item.amount,
            window=item.get_expiry(),
            remaining=stats.remaining,
            reset=reset if allowed else max(1, reset),
        )

    def source_address(self, request: Request) -> str | None:
        return source_address(
            request.client.host if request.client else None,
            request.headers.getlist("x-forwarded-for"),
            self.trusted_proxies,
        )

    @staticmethod
    def _failure_key(address: str | None) -> tuple[str, str]:
        """Per source address only. Not per client id: client ids are not secret (a lead sees
        its partners' in its access log), so anyone could spend a client id's allowance from
        elsewhere and keep that client from getting tokens, while the secret (256 random bits)
        cannot be guessed online however many addresses try; the Argon2 pool bounds what such
        attempts cost. An IPv6 address counts as its /64, which one host commonly holds."""
        return ("auth-address", counted_address(address))

    async def failure_retry_after(self, address: str | None) -> int | None:
        """Seconds to wait when ``address`` spent its failed-authentication allowance, else
        ``None`` (also when the counters are unavailable: fail open)."""
        if not self._available():
            return None
        item = self.failure_limit
        kind, key = self._failure_key(address)
        try:
            if await self._strategy.test(item, kind, key):
                return None
            stats = await self._strategy.get_window_stats(item, kind, key)
        except _STORAGE_ERRORS as exc:
            self._failed(exc)
            return None
        return max(1, _seconds_until(stats.reset_time))

    async def record_failure(self, address: str | None) -> None:
        if not self._available():
            return
        try:
            await self._strategy.hit(self.failure_limit, *self._failure_key(address))
        except _STORAGE_ERRORS as exc:
            self._failed(exc)
