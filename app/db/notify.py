"""PostgreSQL ``LISTEN``/``NOTIFY`` wake-ups, one listening connection per process and channel.

Writers notify in their transaction (``pg_notify`` in app.db.repositories.events), so a wake-up
is delivered at commit and never for a rolled-back change. Long-polling readers (the change feed)
and idle workers wait here instead of polling the database: each registers interest in a key
(an organisation id, or ``None`` for every notification) *before* it reads, then waits; a
notification that arrives between the read and the wait is not lost.

The listening connection is opened on first use, outside the request pool, and reopened after a
failure; while it is down, waits time out after at most ``fallback_seconds`` so that callers
re-read (degrading to polling, never to missing events).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import asyncpg

from app.logging import log

# The channels: the change feed's (payload: the recipient organisation's id), the workers'
# (payload empty: a webhook delivery is due) and the token memo's (payload: a client id whose
# client row changed or whose token was revoked; notified by triggers, migration 0016).
EVENTS_CHANNEL = "aftercare_events"
DELIVERIES_CHANNEL = "aftercare_deliveries"
TOKENS_CHANNEL = "aftercare_tokens"
_RECONNECT_SECONDS = 1.0


class Interest:
    """A registered interest in a key: :meth:`wait` returns when a notification for the key
    arrived since the last :meth:`wait` (or the registration), or after ``timeout``."""

    __slots__ = ("_event", "_owner")

    def __init__(self, owner: Notifications) -> None:
        self._owner = owner
        self._event = asyncio.Event()

    def _set(self) -> None:
        self._event.set()

    async def wait(self, seconds: float) -> bool:
        """True when woken by a notification, False on timeout."""
        timeout = max(0.0, seconds)
        if not self._owner.listening:
            await self._owner.ensure_listening()
            if not self._owner.listening:
                timeout = min(timeout, self._owner.fallback_seconds)
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            return False
        finally:
            self._event.clear()
        return True


class Notifications:
    """The listening connection of one channel.

    ``sound_when`` is a query answering whether the notifications can be relied on at all (for
    the token memo: whether the triggers that send them exist and fire). It is asked when the
    connection opens and then each time :meth:`keep_listening` checks the connection;
    :attr:`sound` is false while it says no, and turning false tells the callbacks as a lost
    connection does."""

    def __init__(
        self,
        dsn: str,
        channel: str,
        *,
        fallback_seconds: float = 2.0,
        sound_when: str | None = None,
    ) -> None:
        self.dsn = dsn
        self.channel = channel
        self.fallback_seconds = fallback_seconds
        self._sound_when = sound_when
        self._sound = sound_when is None
        self._conn: asyncpg.Connection | None = None
        self._interests: dict[str | None, set[Interest]] = {}
        self._lock = asyncio.Lock()
        self._last_attempt = 0.0
        self._closed = False
        self._callbacks: list[Callable[[str | None], None]] = []

    @property
    def listening(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    @property
    def sound(self) -> bool:
        """Listening, and ``sound_when`` said yes when last asked."""
        return self.listening and self._sound

    async def ensure_listening(self) -> None:
        if self.listening or self._closed:
            return
        async with self._lock:
            if self.listening or self._closed:
                return
            loop = asyncio.get_running_loop()
            if loop.time() - self._last_attempt < _RECONNECT_SECONDS:
                return
            self._last_attempt = loop.time()
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(
                    self.dsn,
                    timeout=5.0,
                    server_settings={"application_name": "aftercare-listener"},
                )
                await conn.add_listener(self.channel, self._on_notify)
                conn.add_termination_listener(self._on_terminated)
                if self._sound_when is not None:
                    await self._ask_sound(conn, seconds=5.0)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("listen_failed", channel=self.channel, error_type=type(exc).__name__)
                if conn is not None:
                    conn.terminate()  # half set up: neither kept nor left listening
                return
            self._conn = conn
            # Whatever was notified while nobody listened: let every waiter re-read once.
            self._wake_all()

    def on_change(self, callback: Callable[[str | None], None]) -> None:
        """Call ``callback(payload)`` for every notification, and ``callback(None)`` whenever
        the listening connection opens or is lost or ``sound_when``'s answer changes (what was
        notified meanwhile may have gone unheard)."""
        self._callbacks.append(callback)

    async def keep_listening(self, every: float = _RECONNECT_SECONDS) -> None:
        """Listen, and reconnect within ``every`` seconds after the connection is lost (for a
        listener nobody waits on, which would otherwise reconnect on the next wait). Each
        ``every`` seconds the listening connection must also answer a query within ``every``
        seconds, or it is closed as lost: a connection that hangs without closing (a dead peer,
        a cut network) would otherwise look open while it hears nothing."""
        while not self._closed:
            try:
                await self.ensure_listening()
                conn = self._conn
                if conn is not None and not conn.is_closed():
                    try:
                        await self._ask_sound(conn, seconds=every)
                    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                        log.warning("listener_unresponsive", channel=self.channel)
                        self._on_terminated(conn)  # given up now, not when asyncpg says so
                        conn.terminate()
            except Exception as exc:  # never let the loop die: the next round tries again
                log.warning("listen_failed", channel=self.channel, error_type=type(exc).__name__)
            await asyncio.sleep(every)

    async def _ask_sound(self, conn: asyncpg.Connection, *, seconds: float) -> None:
        """Ask ``sound_when`` (or only whether the connection answers) on ``conn``."""
        if self._sound_when is None:
            await conn.fetchval("SELECT 1", timeout=seconds)
            return
        sound = bool(await conn.fetchval(self._sound_when, timeout=seconds))
        if sound == self._sound:
            return
        self._sound = sound
        if sound:
            log.info("notifications_sound", channel=self.channel)
        else:
            log.warning("notifications_unsound", channel=self.channel)
        # Either way, what was (or is about to be) remembered on their word is forgotten: a
        # check begun while they were unsound must not be remembered once they are sound again.
        self._wake_all()

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        for callback in self._callbacks:
            callback(payload)
        for interest in self._interests.get(payload or None, ()):
            interest._set()
        if payload:
            for interest in self._interests.get(None, ()):
                interest._set()

    def _on_terminated(self, conn: Any) -> None:
        if conn is not self._conn:  # an older connection, already given up
            return
        self._conn = None
        self._wake_all()

    def _wake_all(self) -> None:
        for callback in self._callbacks:
            callback(None)
        for interests in self._interests.values():
            for interest in interests:
                interest._set()

    @contextlib.contextmanager
    def interest(self, key: str | None = None) -> Iterator[Interest]:
        """Register interest in notifications whose payload is ``key`` (``None``: every one)."""
        interest = Interest(self)
        self._interests.setdefault(key, set()).add(interest)
        try:
            yield interest
        finally:
            waiting = self._interests.get(key)
            if waiting is not None:
                waiting.discard(interest)
                if not waiting:
                    del self._interests[key]

    async def close(self) -> None:
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close(timeout=2.0)
        self._wake_all()


# Whether the four triggers that notify TOKENS_CHANNEL (migration 0016) exist and fire (not
# disabled, nor limited to replicas): without them nothing would tell a process that a token was
# revoked, and its token memo must stay off.
REVOCATION_TRIGGERS_FIRE = """
    SELECT count(*) = 4 FROM pg_trigger t
    JOIN pg_proc p ON p.oid = t.tgfoid
    WHERE p.proname = 'aftercare_tokens_changed' AND t.tgenabled IN ('O', 'A')
"""
