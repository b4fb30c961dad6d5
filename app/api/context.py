"""What a running app holds: settings, the database, the key ring, token settings and the rate
limiter."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from app.api.metrics import Metrics
from app.api.rate_limits import RateLimiter
from app.db.database import Database, Session
from app.db.notify import EVENTS_CHANNEL, REVOCATION_TRIGGERS_FIRE, TOKENS_CHANNEL, Notifications
from app.domain.crypto import KeyWrapper
from app.domain.facts import AccessMemo
from app.domain.keys import KeyRing
from app.domain.principal import Principal
from app.domain.tokens import (
    TokenConfig,
    TokenService,
    TokenStatuses,
    VerifiedTokens,
    verify_token,
)
from app.logging import log
from app.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    database: Database | None
    keyring: KeyRing
    token_config: TokenConfig
    key_wrapper: KeyWrapper
    rate_limits: RateLimiter
    verified_tokens: VerifiedTokens = field(default_factory=VerifiedTokens)
    # Tokens found in order recently (app.domain.tokens.TokenStatuses): trusted only while
    # this process listens to the token notifications (:meth:`listen_for_tokens`).
    token_statuses: TokenStatuses = field(default_factory=lambda: TokenStatuses(0))
    # Decisions behind case reads (app.domain.facts.AccessMemo): a repeated read appends its
    # audit row in the statement that reads the case (None: AFTERCARE_ACCESS_MEMO_ENTRIES=0).
    access_memo: AccessMemo | None = field(default_factory=AccessMemo)
    # Prometheus metrics of this app (app.api.metrics), built with it.
    metrics: Metrics = field(default_factory=Metrics)
    # LISTEN for the change feed's long polls (app.db.notify), opened on first use.
    _event_notifications: Notifications | None = None
    # LISTEN for the token memo, opened by listen_for_tokens (the app's lifespan).
    _token_notifications: Notifications | None = None
    _token_listener: asyncio.Task[None] | None = None

    def verify_token(self, token: str) -> Principal:
        """A bearer token's signature and claims (no database); :class:`InvalidToken` if not."""
        return verify_token(token, self.keyring, self.token_config, self.verified_tokens)

    def tokens(self, session: Session) -> TokenService:
        return TokenService(
            session, self.keyring, self.token_config, self.verified_tokens, self.token_statuses
        )

    async def listen_for_tokens(self) -> None:
        """Open the token notifications' listening connection (kept open, reopened within a
        second when lost) so that the token memo can be used; nothing when the memo is off.
        The memo is used only while the connection is up and the database has the triggers
        that notify, asked each second (without them every request asks the database)."""
        statuses = self.token_statuses
        if statuses.seconds <= 0 or self._token_notifications is not None:
            return
        notifications = Notifications(
            self.db.dsn, TOKENS_CHANNEL, sound_when=REVOCATION_TRIGGERS_FIRE
        )
        notifications.on_change(statuses.forget)
        statuses.listening = lambda: notifications.sound
        self._token_notifications = notifications
        await notifications.ensure_listening()
        if notifications.listening and not notifications.sound:
            log.warning("token_memo_off", reason="token notification triggers missing or disabled")
        self._token_listener = asyncio.create_task(
            notifications.keep_listening(), name="token-notifications"
        )

    @property
    def event_notifications(self) -> Notifications:
        if self._event_notifications is None:
            self._event_notifications = Notifications(self.db.dsn, EVENTS_CHANNEL)
        return self._event_notifications

    async def close(self) -> None:
        """Release what the running app opened beside the pool (the listening connections)."""
        listener, self._token_listener = self._token_listener, None
        if listener is not None:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
        for name in ("_event_notifications", "_token_notifications"):
            notifications = getattr(self, name)
            setattr(self, name, None)
            if notifications is not None:
                await notifications.close()

    @property
    def db(self) -> Database:
        if self.database is None:
            raise RuntimeError("the application has not started (lifespan not run)")
        return self.database
