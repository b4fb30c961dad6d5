"""What a running app holds: settings, the database, the key ring, token settings and the rate
limiter."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.api.metrics import Metrics
from app.api.rate_limits import RateLimiter
from app.db.database import Database, Session
from app.db.notify import EVENTS_CHANNEL, Notifications
from app.domain.crypto import KeyWrapper
from app.domain.keys import KeyRing
from app.domain.tokens import TokenConfig, TokenService, VerifiedTokens
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
    # Prometheus metrics of this app (app.api.metrics), built with it.
    metrics: Metrics = field(default_factory=Metrics)
    # LISTEN for the change feed's long polls (app.db.notify), opened on first use.
    _event_notifications: Notifications | None = None

    def tokens(self, session: Session) -> TokenService:
        return TokenService(session, self.keyring, self.token_config, self.verified_tokens)

    @property
    def event_notifications(self) -> Notifications:
        if self._event_notifications is None:
            self._event_notifications = Notifications(self.db.dsn, EVENTS_CHANNEL)
        return self._event_notifications

    async def close(self) -> None:
        """Release what the running app opened beside the pool (the listening connection)."""
        notifications, self._event_notifications = self._event_notifications, None
        if notifications is not None:
            await notifications.close()

    @property
    def db(self) -> Database:
        if self.database is None:
            raise RuntimeError("the application has not started (lifespan not run)")
        return self.database
