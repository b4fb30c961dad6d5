"""Access tokens: issuing (client credentials), verifying, revoking and introspecting them."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from app.db.database import Session
from app.db.repositories import clients as client_repo
from app.domain import jwt
from app.domain.clients import Client
from app.domain.errors import InvalidToken
from app.domain.keys import KeyRing
from app.domain.principal import Principal
from app.domain.scopes import parse_scope


class OAuthError(Exception):
    """An RFC 6749 §5.2 error response (not problem+json: OAuth clients expect this shape)."""

    def __init__(
        self, error: str, description: str, status: int = 400, *, retry_after: int | None = None
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class TokenConfig:
    issuer: str
    audience: str
    ttl_seconds: int = 900


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scope: str


def grant_scopes(client: Client, requested: str | None) -> list[str]:
    """Pure rule: the requested scopes must be a subset of the client's; none → all of them."""
    if requested is None:
        return sorted(client.scopes)
    wanted = parse_scope(requested)
    if not wanted:
        raise OAuthError("invalid_scope", "scope must not be empty")
    extra = [s for s in wanted if s not in client.scopes]
    if extra:
        raise OAuthError("invalid_scope", "scope exceeds what this client may request")
    return sorted(wanted)


def _make_room(entries: dict[Any, Any], most: int) -> None:
    """Before adding to a memo of at most ``most`` entries: when full, drop the oldest tenth
    (insertion order)."""
    if len(entries) >= most:
        for stale in list(entries)[: most // 10 or 1]:
            del entries[stale]


class VerifiedTokens:
    """Per-process memo of tokens whose signature and claims already verified.

    Partners reuse a token for its whole lifetime, so re-verifying the RS256 signature on every
    request is wasted work. An entry is used only while the token is unexpired and its signing
    key is still published in the key ring's *current* key set (the caller refreshes the ring
    first, so a retired ``kid`` drops its entries within the ring's refresh interval);
    revocation, client status and the client's organisation are still checked in the database
    on every request.
    """

    def __init__(self, max_entries: int = 10_000, leeway: int = 30) -> None:
        self._entries: dict[str, tuple[Principal, dict[str, Any], str, int]] = {}
        self._max = max_entries
        self._leeway = leeway

    def get(self, token: str, keyring: KeyRing) -> tuple[dict[str, Any], Principal] | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        principal, claims, kid, valid_until = entry
        if time.time() > valid_until or kid not in keyring.keyset.verification:
            del self._entries[token]
            return None
        return claims, principal

    def put(self, token: str, claims: dict[str, Any], principal: Principal, kid: str) -> None:
        _make_room(self._entries, self._max)
        self._entries[token] = (principal, claims, kid, principal.expires_at + self._leeway)


class TokenStatuses:
    """Per-process memo of the database half of authentication: that a token's client exists,
    is enabled and belongs to the token's organisation, and that the token is not revoked.

    Asking the database on every request was one of a read's two or three round trips. An
    entry is trusted for at most ``seconds`` after the check that made it, and only while the
    process listens to PostgreSQL's token notifications (:data:`app.db.notify.TOKENS_CHANNEL`):
    a trigger notifies at commit whenever a client row changes or a token is revoked, whoever
    made the change, and every notification (and every loss or return of the listening
    connection, when notifications may have gone unheard) empties the memo. So a revocation or
    a disabled client takes effect in the process that made it at its commit, in every other
    process as soon as the notification reaches it (sent by PostgreSQL at commit, delivered
    asynchronously: normally within milliseconds), and within ``seconds`` at worst (a listening
    connection that hangs without closing is given up within a second or two by
    ``Notifications.keep_listening``). ``seconds = 0`` turns the memo off (the database is asked
    on every request).

    A check that began before a notification is not remembered after it (``ticket``), so a
    status read just before a revocation committed cannot outlive the notification. That holds
    because the check reads with a snapshot taken after the ticket (it is the request's first
    statement, in autocommit or READ COMMITTED): keep it so.
    """

    def __init__(
        self,
        seconds: float,
        *,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self.listening: Callable[[], bool] = lambda: False
        self._entries: dict[UUID, tuple[str, UUID, float]] = {}
        self._max = max_entries
        self._clock = clock
        self._generation = 0

    def forget(self, _payload: str | None = None) -> None:
        """Something changed (or may have, unheard): trust no entry made before now."""
        self._generation += 1
        self._entries.clear()

    def knows(self, principal: Principal) -> bool:
        """Whether ``principal``'s token was found in order recently enough to skip the check."""
        entry = self._entries.get(principal.jti)
        if entry is None:
            return False
        client_id, org_id, until = entry
        return (
            until > self._clock()
            and client_id == principal.client_id
            and org_id == principal.org_id
            and self.listening()
        )

    def ticket(self) -> int:
        """Taken before the database is asked, handed back to :meth:`remember`."""
        return self._generation

    def remember(self, principal: Principal, ticket: int) -> None:
        """The database found ``principal``'s token in order, in a check begun at ``ticket``."""
        if self.seconds <= 0 or ticket != self._generation or not self.listening():
            return
        _make_room(self._entries, self._max)
        self._entries[principal.jti] = (
            principal.client_id,
            principal.org_id,
            self._clock() + self.seconds,
        )


def decode_token(
    token: str, keyring: KeyRing, config: TokenConfig, verified: VerifiedTokens | None = None
) -> tuple[dict[str, Any], Principal]:
    """Signature and claims only (no database): raises ``jwt.TokenRejected``."""
    # Picks up rotations and retirements made by other processes (one clock check between
    # looks at the key file), before the memo is consulted.
    keyring.refresh()
    if verified is not None:
        hit = verified.get(token, keyring)
        if hit is not None:
            return hit
    kid_holder: list[str] = []

    def find_key(kid: str) -> jwt.VerificationKey | None:
        kid_holder.append(kid)
        return keyring.find(kid)

    claims = jwt.decode(
        token,
        find_key=find_key,
        issuer=config.issuer,
        audience=config.audience,
    )
    try:
        principal = Principal(
            client_id=str(claims["client_id"]),
            org_id=UUID(str(claims["org_id"])),
            scopes=frozenset(parse_scope(str(claims.get("scope", "")))),
            jti=UUID(str(claims["jti"])),
            expires_at=int(claims["exp"]),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise jwt.TokenRejected("token claims rejected") from exc
    if claims["sub"] != principal.client_id:
        raise jwt.TokenRejected("token claims rejected")
    if verified is not None:
        verified.put(token, claims, principal, kid_holder[0])
    return claims, principal


def verify_token(
    token: str, keyring: KeyRing, config: TokenConfig, verified: VerifiedTokens | None = None
) -> Principal:
    """Signature and claims only (no database); every failure is :class:`InvalidToken`."""
    try:
        _, principal = decode_token(token, keyring, config, verified)
    except jwt.TokenRejected as exc:
        raise InvalidToken(str(exc)) from None
    return principal


class TokenService:
    def __init__(
        self,
        session: Session,
        keyring: KeyRing,
        config: TokenConfig,
        verified: VerifiedTokens | None = None,
        statuses: TokenStatuses | None = None,
    ) -> None:
        self.session = session
        self.keyring = keyring
        self.config = config
        self.verified = verified
        self.statuses = statuses

    def issue(self, client: Client, requested_scope: str | None) -> IssuedToken:
        scope = " ".join(grant_scopes(client, requested_scope))
        now = int(time.time())
        claims = {
            "iss": self.config.issuer,
            "aud": self.config.audience,
            "sub": client.client_id,
            "client_id": client.client_id,
            "org_id": str(client.org_id),
            "scope": scope,
            "iat": now,
            "nbf": now,
            "exp": now + self.config.ttl_seconds,
            "jti": str(uuid4()),
        }
        token = jwt.encode(claims, self.keyring.signing_key())
        return IssuedToken(access_token=token, expires_in=self.config.ttl_seconds, scope=scope)

    def _decode(self, token: str) -> tuple[dict[str, Any], Principal]:
        """Signature and claims only (no database): raises ``jwt.TokenRejected``."""
        return decode_token(token, self.keyring, self.config, self.verified)

    async def authenticate(self, token: str) -> Principal:
        """Verify a bearer token for an API request; every failure is :class:`InvalidToken`."""
        return await self.check_status(self.verify(token))

    def verify(self, token: str) -> Principal:
        """Signature and claims only (no database); every failure is :class:`InvalidToken`."""
        return verify_token(token, self.keyring, self.config, self.verified)

    async def check_status(self, principal: Principal) -> Principal:
        """The database half of :meth:`authenticate`, one round trip unless the memo
        (:class:`TokenStatuses`) vouches for the token: the client exists, is enabled and
        belongs to the token's organisation, and the token is not revoked."""
        statuses = self.statuses
        if statuses is not None and statuses.knows(principal):
            return principal
        ticket = statuses.ticket() if statuses is not None else 0
        status = await client_repo.token_status(self.session, principal.client_id, principal.jti)
        if status is None or not status.client_active:
            raise InvalidToken("client disabled")
        if status.org_id != principal.org_id:
            raise InvalidToken("token claims rejected")
        if status.revoked:
            raise InvalidToken("token revoked")
        if statuses is not None:
            statuses.remember(principal, ticket)
        return principal

    async def revoke(self, client: Client, token: str) -> None:
        """RFC 7009: revoke a token issued to ``client``; anything else is silently ignored."""
        try:
            _, principal = self._decode(token)
        except jwt.TokenRejected:
            return
        if principal.client_id != client.client_id:
            return
        await client_repo.revoke(
            self.session,
            jti=principal.jti,
            client_id=client.client_id,
            expires_at=datetime.fromtimestamp(principal.expires_at, UTC),
        )
        if self.statuses is not None:
            # This process forgets at commit; the others when the trigger's notification
            # reaches them (sent at the same commit).
            self.session.after_commit.append(self.statuses.forget)

    async def introspect(self, client: Client, token: str) -> dict[str, Any]:
        """RFC 7662: only active tokens of the caller's own organisation are described."""
        try:
            claims, principal = self._decode(token)
        except jwt.TokenRejected:
            return {"active": False}
        if principal.org_id != client.org_id:
            return {"active": False}
        status = await client_repo.token_status(self.session, principal.client_id, principal.jti)
        if (
            status is None
            or not status.client_active
            or status.revoked
            or status.org_id != principal.org_id
        ):
            return {"active": False}
        return {
            "active": True,
            "scope": claims.get("scope", ""),
            "client_id": principal.client_id,
            "org_id": str(principal.org_id),
            "token_type": "Bearer",
            "exp": claims["exp"],
            "iat": claims["iat"],
            "nbf": claims.get("nbf", claims["iat"]),
            "sub": claims["sub"],
            "aud": claims["aud"],
            "iss": claims["iss"],
            "jti": claims["jti"],
        }
